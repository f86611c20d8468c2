--[[
  Trims one interaction stream for a reader of `read` (InteractionLog.trim): every entry
  below an id, or through it; the stream's `extra` counter follows (include interaction-trim).

  KEYS[1] ix:{<slot tag>}        stream: interaction events of one slot
  KEYS[2] ix:{<slot tag>}:extra  events kept beyond one per entry (include interaction-room)

  ARGV[1] entry id
  ARGV[2] '1': through the entry itself | '0': below it (an entry read only in part stays)

  Returns 1.
]]
--- @include "interaction-trim"
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return 1
end
trimInteractions(KEYS[1], KEYS[2], ARGV[1], ARGV[2] == '1')
return 1
