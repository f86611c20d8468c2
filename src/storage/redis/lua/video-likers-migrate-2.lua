--[[
  Moves some of a video's likers from the legacy set (13-character ids) into the buckets
  (include likers), leaving the count as it is. Run by RedisVideos.migrateLikers until the
  legacy set is gone; likes and unlikes may run in between (each sees every liker once).

  KEYS[1] v:{id}:meta      hash (fields `bucketLikes`, `likerBuckets`)
  KEYS[2] v:{id}:likers    the legacy likers set; the buckets are `<KEYS[2]>:<n>`

  ARGV    pairs: user id as in the legacy set, then its member (the id as likers.lua stores it)

  Returns -1 when the video does not exist; otherwise how many likers the legacy set still holds.
]]
--- @include "likers"
local meta = redis.call('HMGET', KEYS[1], 'owner', 'bucketLikes', 'likerBuckets')
if not meta[1] then
  return -1
end
local bucketLikes = tonumber(meta[2]) or 0
local buckets = tonumber(meta[3]) or 1
local bucketOf = likerBucketFinder(KEYS[2], buckets)
for i = 1, #ARGV, 2 do
  if redis.call('SREM', KEYS[2], ARGV[i]) == 1 then
    -- 0 when already in a bucket (an older process added them to the old set as well during a
    -- rolling upgrade): they were counted twice, now once
    bucketLikes = bucketLikes + redis.call('SADD', bucketOf(ARGV[i + 1]), ARGV[i + 1])
  end
end
buckets = likerSplits(KEYS[2], buckets, bucketLikes)
redis.call('HSET', KEYS[1], 'bucketLikes', bucketLikes, 'likerBuckets', buckets)
return redis.call('SCARD', KEYS[2])
