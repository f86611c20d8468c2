--[[
  Adds a video to its author's outbox, when the author exists.

  KEYS[1] u:{id}
  KEYS[2] u:{id}:videos

  ARGV[1] video id

  Returns 1 when added, 0 when already there or the user does not exist.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
return redis.call('ZADD', KEYS[2], 0, ARGV[1])
