--[[
  Records interaction events that change no other state (watch progress, impressions) of
  ONE video, atomically, if the video exists.

  KEYS[1] v:{id}:meta         the video (must exist)
  KEYS[2] ix:{<slot tag>}     stream: interaction events of the video's slot
  KEYS[3] ix:{<slot tag>}:extra  events kept there beyond one per entry (include interaction-room)

  ARGV[1] interaction log bound (EXPORT_MAX_LAG)
  ARGV[2] '1': hold events for an exporter (refuse when full) | '0': ring (drop the oldest)
  ARGV[3] most events in one entry in hold mode (EXPORT_ENTRY_EVENTS; '1': one-event entries only)
  ARGV[4..] event JSONs

  Returns 1; -1 when the video does not exist; -7 when the log is full (hold mode).
]]
--- @include "interaction-room"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if not interactionRoom(KEYS[2], KEYS[3], #ARGV - 3, ARGV[1], ARGV[2]) then
  return -7
end
local jsons = {}
for i = 4, #ARGV do
  jsons[#jsons + 1] = ARGV[i]
end
recordInteractions(KEYS[2], KEYS[3], jsons, ARGV[1], ARGV[2], ARGV[3])
return 1
