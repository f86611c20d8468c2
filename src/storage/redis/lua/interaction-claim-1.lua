--[[
  Takes over events of one interaction stream that another consumer of the export group was
  delivered and has left unacknowledged for at least `idle` ms (it died mid-batch, or its
  sinks are failing), for a consumer, packed as interaction-deliver packs them.

  Never the caller's own entries: those are in its batch or being written (a consumer name is
  one process's), and claiming them back (as XAUTOCLAIM does, having no way to leave a
  consumer out) put them into its next batch a second time while the first was still on its
  way, and kept them from the other exporters that should have taken them over.

  Entries are taken whole, oldest first, until `limit` EVENTS (only the last entry can cross
  it, by less than INTERACTION_ENTRY_MAX). An entry trimmed meanwhile is dropped from the
  pending list by XCLAIM and delivers nothing.

  KEYS[1] ix:{<slot tag>}    stream: interaction events of one slot

  ARGV[1] consumer group name
  ARGV[2] consumer name
  ARGV[3] least idle time, ms
  ARGV[4] most events to take

  Returns { ids, 'event,event,...', count }, as interaction-deliver; '' and 0 when none.
]]
--- @include "interaction-room"
local group, consumer, idle = ARGV[1], ARGV[2], ARGV[3]
local delivery = interactionDelivery(tonumber(ARGV[4]))
local PAGE = 100
local from = '-'
while delivery.left > 0 do
  local page = redis.call('XPENDING', KEYS[1], group, 'IDLE', idle, from, '+', PAGE)
  local others = {}
  for _, p in ipairs(page) do
    if p[2] ~= consumer then
      others[#others + 1] = p[1]
    end
  end
  -- claimed a few at a time, so that no more entries than `left` needs change hands
  local i = 1
  while delivery.left > 0 and i <= #others do
    local count = math.max(1, math.floor(delivery.left / INTERACTION_ENTRY_MAX))
    local claimed = redis.call('XCLAIM', KEYS[1], group, consumer, idle, unpack(others, i, math.min(#others, i + count - 1)))
    i = i + count
    for _, entry in ipairs(claimed) do
      if entry and entry[2] then
        interactionTake(delivery, entry)
      end
    end
  end
  if #page < PAGE then
    break
  end
  from = '(' .. page[#page][1]
end
return interactionPacked(delivery)
