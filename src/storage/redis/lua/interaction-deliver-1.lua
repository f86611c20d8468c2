--[[
  Delivers never-delivered events of one interaction stream to a consumer of the export group
  (XREADGROUP ... '>'), packed for the driver: the ids as one space-separated string and the
  events as the items of one JSON array (each entry's `e` is an event's JSON), so a batch of
  thousands is two strings to read instead of an array per entry, and the receipt keeps one
  string.

  KEYS[1] ix:{<slot tag>}    stream: interaction events of one slot

  ARGV[1] consumer group name
  ARGV[2] consumer name
  ARGV[3] most entries to deliver

  Returns { ids, 'event,event,...' } (the events comma-separated: a JSON array without its
  brackets), both '' when nothing is new. A missing group (or stream) is XREADGROUP's own
  NOGROUP error.
]]
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
if not reply then
  return { '', '' }
end
local ids, events = {}, {}
for i, entry in ipairs(reply[1][2]) do
  ids[i] = entry[1]
  events[i] = entry[2][2]
end
if #ids == 0 then
  return { '', '' }
end
-- the array's brackets are added by the driver: here they would copy the whole text once more
return { table.concat(ids, ' '), table.concat(events, ',') }
