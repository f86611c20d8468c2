--[[
  Counts one impression of each pool video; a video shown `max` times leaves the pool.
  Videos not in the pool are left out.

  KEYS[1] {rec}:fresh       zset video id -> impressions
  KEYS[2] {rec}:fresh-ids   zset video id, score 0

  ARGV[1] max   ARGV[2..] video ids

  Returns 1.
]]
local max = tonumber(ARGV[1])
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    local n = tonumber(redis.call('ZINCRBY', KEYS[1], 1, ARGV[i]))
    if n >= max then
      redis.call('ZREM', KEYS[1], ARGV[i])
      redis.call('ZREM', KEYS[2], ARGV[i])
    end
  end
end
return 1
