--[[
  The epoch rule of a video's event log, for every script that reads its head: when events
  were appended in this epoch and the log stream is gone (evicted, deleted), old client
  offsets mean nothing now, so a new epoch starts at the current head.

  metaKey     v:{id}:meta
  logKey      v:{id}:log
  head        the log head (number)
  epoch       the epoch stored in meta
  epochStart  the head at which it began (string or nil)
  freshEpoch  the epoch to store if the log was lost

  Returns the epoch in force.
]]
local function renewEpoch(metaKey, logKey, head, epoch, epochStart, freshEpoch)
  if head > (tonumber(epochStart) or 0) and redis.call('EXISTS', logKey) == 0 then
    redis.call('HSET', metaKey, 'epoch', freshEpoch, 'epochStart', head)
    return freshEpoch
  end
  return epoch
end

--[[
  A log's head and the epoch in force (renewEpoch above), for the scripts that read only
  those from meta; nil when meta does not exist.
]]
local function logHead(metaKey, logKey, freshEpoch)
  local meta = redis.call('HMGET', metaKey, 'head', 'epoch', 'epochStart')
  if not meta[1] then
    return nil
  end
  local head = tonumber(meta[1])
  return head, renewEpoch(metaKey, logKey, head, meta[2], meta[3], freshEpoch)
end
