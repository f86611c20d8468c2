--[[
  Reads a video's record, counters and log head.

  KEYS[1] v:{id}:meta
  KEYS[2] v:{id}:likers
  KEYS[3] v:{id}:comment-order
  KEYS[4] v:{id}:log

  ARGV[1] a fresh epoch, stored only when the log was lost
          (no stream although events were appended since the epoch began)

  Returns nil when the video does not exist; otherwise
    { record JSON, tagging JSON or '', likes, comments, views, version, head, epoch }
]]
local meta = redis.call('HMGET', KEYS[1], 'record', 'tagging', 'views', 'version', 'head', 'epoch', 'epochStart')
if not meta[1] then
  return nil
end
local head = tonumber(meta[5])
local epoch = meta[6]
if head > (tonumber(meta[7]) or 0) and redis.call('EXISTS', KEYS[4]) == 0 then
  -- events were appended in this epoch and the log is gone (evicted, deleted): old
  -- client offsets mean nothing now. The new epoch starts at the current head.
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'epochStart', head)
end
return {
  meta[1],
  meta[2] or '',
  redis.call('SCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  tonumber(meta[3]),
  tonumber(meta[4]),
  head,
  epoch,
}
