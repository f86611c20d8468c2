-- The behaviour log's bound (storage/interactions.ts). In hold mode (an exporter trims the
-- stream) a write that would push the stream past `max` is refused before anything is
-- written; in ring mode the oldest events go (see recordInteraction).
local function interactionRoom(stream, n, max, hold)
  if hold == '1' and redis.call('XLEN', stream) + n > tonumber(max) then
    return false
  end
  return true
end

local function recordInteraction(stream, json, max, hold)
  if hold == '1' then
    redis.call('XADD', stream, '*', 'e', json)
  else
    redis.call('XADD', stream, 'MAXLEN', max, '*', 'e', json)
  end
end
