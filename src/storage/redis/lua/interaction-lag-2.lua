--[[
  How many events one interaction stream keeps: its entries plus the events its batched
  entries hold beyond one each (include interaction-room), in one round trip.

  KEYS[1] ix:{<slot tag>}        stream: interaction events of one slot
  KEYS[2] ix:{<slot tag>}:extra  events kept beyond one per entry

  Returns the count (0 for a missing or empty stream).
]]
--- @include "interaction-room"
return interactionCount(KEYS[1], KEYS[2])
