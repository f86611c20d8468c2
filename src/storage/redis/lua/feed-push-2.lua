--[[
  Pushes a feed entry into one user's inbox and trims it to the newest `cap` entries.

  KEYS[1] u:{id}
  KEYS[2] u:{id}:inbox    zset of `${videoId}:${authorId}`, score 0

  ARGV[1] the member `${videoId}:${authorId}`
  ARGV[2] cap

  Returns 1 when pushed, 0 when the user does not exist.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return 1
