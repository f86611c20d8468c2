--[[
  Moves some of a video's likers from the legacy set (13-character ids) into the buckets
  (include likers), leaving the count as it is. Run by RedisVideos.migrateLikers until the
  legacy set is gone; likes and unlikes may run in between (each sees every liker once).

  KEYS[1] v:{id}:meta      hash (fields `likes`, `likerBuckets`)
  KEYS[2] v:{id}:likers    the legacy likers set; the buckets are `<KEYS[2]>:<n>`

  ARGV    pairs: user id as in the legacy set, then its member (the id as likers.lua stores it)

  Returns -1 when the video does not exist; otherwise how many likers the legacy set still holds.
]]
--- @include "likers"
local meta = redis.call('HMGET', KEYS[1], 'owner', 'likes', 'likerBuckets')
if not meta[1] then
  return -1
end
local likes = tonumber(meta[2]) or redis.call('SCARD', KEYS[2])
local buckets = tonumber(meta[3]) or 1
for i = 1, #ARGV, 2 do
  if redis.call('SREM', KEYS[2], ARGV[i]) == 1 and redis.call('SADD', likerBucket(KEYS[2], buckets, ARGV[i + 1]), ARGV[i + 1]) == 0 then
    -- it was in both (never written so, but then it was counted twice)
    likes = likes - 1
  end
end
local left = redis.call('SCARD', KEYS[2])
buckets = likerSplits(KEYS[2], buckets, likes - left)
redis.call('HSET', KEYS[1], 'likes', likes, 'likerBuckets', buckets)
return left
