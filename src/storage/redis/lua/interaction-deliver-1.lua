--[[
  Delivers never-delivered events of one interaction stream to a consumer of the export group
  (XREADGROUP ... '>'), packed for the driver: the entry ids as one space-separated string and
  the events as the items of one JSON array (an entry's `e` is one event's JSON, or a batch of
  them already joined by commas: include interaction-room), so a batch of thousands is two
  strings to read instead of an array per entry, and the receipt keeps one string.

  Entries are delivered whole, oldest first, until `limit` EVENTS: reads take at most
  floor(left / INTERACTION_ENTRY_MAX) entries (one when fewer are left), so only the last
  entry can cross the limit, by less than INTERACTION_ENTRY_MAX events.

  KEYS[1] ix:{<slot tag>}    stream: interaction events of one slot

  ARGV[1] consumer group name
  ARGV[2] consumer name
  ARGV[3] most events to deliver

  Returns { ids, 'event,event,...', count } (the events comma-separated: a JSON array
  without its brackets; count: how many), '' and 0 when nothing is new. A missing group (or
  stream) is XREADGROUP's own NOGROUP error.
]]
--- @include "interaction-room"
local ids, events = {}, {}
local left = tonumber(ARGV[3])
while left > 0 do
  local count = math.max(1, math.floor(left / INTERACTION_ENTRY_MAX))
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count, 'STREAMS', KEYS[1], '>')
  local entries = reply and reply[1][2] or {}
  for _, entry in ipairs(entries) do
    ids[#ids + 1] = entry[1]
    events[#events + 1] = entry[2][2]
    left = left - interactionEntryCount(entry[2])
  end
  if #entries < count then
    break
  end
end
if #ids == 0 then
  return { '', '', 0 }
end
-- the array's brackets are added by the driver: here they would copy the whole text once more
return { table.concat(ids, ' '), table.concat(events, ','), tonumber(ARGV[3]) - left }
