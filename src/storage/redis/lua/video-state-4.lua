--[[
  Reads a video's record, counters and log head.

  KEYS[1] v:{id}:meta
  KEYS[2] v:{id}:likers   the legacy likers set (likes = meta's bucketLikes + its SCARD: include likers)
  KEYS[3] v:{id}:comment-order
  KEYS[4] v:{id}:log

  ARGV[1] a fresh epoch, stored only when the log was lost
          (no stream although events were appended since the epoch began)

  Returns nil when the video does not exist; otherwise
    { record JSON, tagging JSON or '', likes, comments, views, version, head, epoch }
]]
--- @include "renew-epoch"
local meta = redis.call('HMGET', KEYS[1], 'record', 'tagging', 'views', 'version', 'head', 'epoch', 'epochStart', 'bucketLikes')
if not meta[1] then
  return nil
end
local head = tonumber(meta[5])
local epoch = renewEpoch(KEYS[1], KEYS[4], head, meta[6], meta[7], ARGV[1])
return {
  meta[1],
  meta[2] or '',
  (tonumber(meta[8]) or 0) + redis.call('SCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  tonumber(meta[3]),
  tonumber(meta[4]),
  head,
  epoch,
}
