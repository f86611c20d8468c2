--[[
  Delivers never-delivered events of one interaction stream to a consumer of the export group
  (XREADGROUP ... '>'), packed for the driver (interactionDelivery, include interaction-room),
  so the receipt keeps one string.

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
local delivery = interactionDelivery(tonumber(ARGV[3]))
while delivery.left > 0 do
  local count = math.max(1, math.floor(delivery.left / INTERACTION_ENTRY_MAX))
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count, 'STREAMS', KEYS[1], '>')
  local entries = reply and reply[1][2] or {}
  for _, entry in ipairs(entries) do
    interactionTake(delivery, entry)
  end
  if #entries < count then
    break
  end
end
return interactionPacked(delivery)
