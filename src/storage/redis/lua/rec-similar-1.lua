--[[
  Raises the co-engagement score of each video for a subject by 1 and keeps the strongest.

  KEYS[1] u:{sid}:rec:similar   zset video id -> score

  ARGV[1] similarMax   ARGV[2] stateTtl (ms)   ARGV[3..] video ids

  Returns 1.
]]
for i = 3, #ARGV do
  redis.call('ZINCRBY', KEYS[1], 1, ARGV[i])
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
