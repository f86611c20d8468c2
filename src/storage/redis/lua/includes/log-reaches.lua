--[[
  The `complete` rule of a read after an offset, for every log read that way (a video's
  events, a conversation's messages), the memory driver's too: the log must still reach back
  to `since` (its oldest entry is at most one past it; an empty log begins after its head)
  and `since` must not be ahead of the head.

  logKey  v:{id}:log or c:{id}:log (stream ids `<offset>-<n>`)
  head    the log head (number)
  since   the offset read after (number)

  Returns whether a read after `since` is complete.
]]
local function logReaches(logKey, head, since)
  local first = head + 1
  local oldest = redis.call('XRANGE', logKey, '-', '+', 'COUNT', 1)
  if oldest[1] then
    first = tonumber(string.match(oldest[1][1], '^(%d+)'))
  end
  return since >= first - 1 and since <= head
end
