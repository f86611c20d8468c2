--[[
  Removes a video with its likes, viewers, comments, idempotency keys and event log.
  (The owner's outbox and the tag indexes live in other slots; the driver updates them.)

  KEYS[1] v:{id}:meta            KEYS[5] v:{id}:comment-authors
  KEYS[2] v:{id}:likers          KEYS[6] v:{id}:comment-order
  KEYS[3] v:{id}:viewers         KEYS[7] v:{id}:idempotency
  KEYS[4] v:{id}:comments        KEYS[8] v:{id}:log
  and the likers buckets `<KEYS[2]>:<n>`, as many as meta's `likerBuckets` (include likers)

  Returns 1 when the video existed, 0 otherwise.
]]
--- @include "likers"
local existed = redis.call('EXISTS', KEYS[1])
likerDeleteAll(KEYS[2], tonumber(redis.call('HGET', KEYS[1], 'likerBuckets')) or 0)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
return existed
