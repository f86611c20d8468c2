--[[
  Whether each of some users likes a video (VideoStore.likedBy / likedByUser).

  KEYS[1] v:{id}:meta      hash (field `likerBuckets`)
  KEYS[2] v:{id}:likers    the legacy likers set; the buckets are `<KEYS[2]>:<n>` (include likers)

  ARGV    pairs: user id, then its member (the id as likers.lua stores it)

  Returns one 0/1 per pair (0 for a video that does not exist).
]]
--- @include "likers"
local buckets = tonumber(redis.call('HGET', KEYS[1], 'likerBuckets')) or 1
local legacy = redis.call('EXISTS', KEYS[2]) == 1
local bucketOf = likerBucketFinder(KEYS[2], buckets)
local out = {}
for i = 1, #ARGV, 2 do
  local liked = redis.call('SISMEMBER', bucketOf(ARGV[i + 1]), ARGV[i + 1])
  if liked == 0 and legacy then
    liked = redis.call('SISMEMBER', KEYS[2], ARGV[i])
  end
  out[#out + 1] = liked
end
return out
