--[[
  Acknowledges events of the export consumer group on one interaction stream, then trims the
  stream of everything the group has acknowledged: below its oldest pending entry, or, when
  nothing is pending, through the last entry it delivered. Never an unacknowledged event.
  An entry (one event, or a batch of one write's events: include interaction-room) is
  acknowledged and trimmed whole; the stream's `extra` counter follows the trim.

  KEYS[1] ix:{<slot tag>}        stream: interaction events of one slot
  KEYS[2] ix:{<slot tag>}:extra  events kept beyond one per entry (include interaction-room)

  ARGV[1] consumer group name
  ARGV[2..] entry ids to acknowledge, one or more per argument, separated by spaces

  Returns how many of the ids were pending (XACK's count); 0 when the group is gone.
]]
--- @include "interaction-trim"
local acked = 0
local ids = {}
for i = 2, #ARGV do
  for id in string.gmatch(ARGV[i], '%S+') do
    ids[#ids + 1] = id
    -- in slices: unpack() of a long table overflows Lua's C stack
    if #ids == 1000 then
      acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
      ids = {}
    end
  end
end
if #ids > 0 then
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
end
local last
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return acked
end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, delivered
  for j = 1, #group, 2 do
    if group[j] == 'name' then name = group[j + 1] end
    if group[j] == 'last-delivered-id' then delivered = group[j + 1] end
  end
  if name == ARGV[1] then last = delivered end
end
if not last then
  return 0
end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if tonumber(pending[1]) > 0 then
  trimInteractions(KEYS[1], KEYS[2], pending[2], false)
elseif last ~= '0-0' then
  trimInteractions(KEYS[1], KEYS[2], last, true)
end
return acked
