--[[
  Creates a video (replacing any earlier one with the same id): zero counters, empty log.

  KEYS[1] v:{id}:meta            KEYS[5] v:{id}:comment-authors
  KEYS[2] v:{id}:likers          KEYS[6] v:{id}:comment-order
  KEYS[3] v:{id}:viewers         KEYS[7] v:{id}:idempotency
  KEYS[4] v:{id}:comments        KEYS[8] v:{id}:log
  and the likers buckets `<KEYS[2]>:<n>`, as many as meta's `likerBuckets` (include likers)

  ARGV[1] the record as JSON, without `tagging`
  ARGV[2] owner user id
  ARGV[3] epoch (a fresh random string)
  ARGV[4] tagging JSON, or '' when none

  Returns 1.
]]
--- @include "likers"
likerDeleteAll(KEYS[2], tonumber(redis.call('HGET', KEYS[1], 'likerBuckets')) or 0)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('HSET', KEYS[1], 'record', ARGV[1], 'owner', ARGV[2], 'views', 0, 'version', 0, 'head', 0, 'lastComment', 0,
  'epoch', ARGV[3], 'epochStart', 0, 'bucketLikes', 0, 'likerBuckets', 1)
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'tagging', ARGV[4])
end
return 1
