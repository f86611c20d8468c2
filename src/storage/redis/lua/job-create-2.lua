--[[
  Creates (or replaces) a job record.

  KEYS[1] {jobs}:job:<id>    hash, one field per JobRecord property
  KEYS[2] {jobs}:active      zset of ids of jobs not in a final stage, score 0

  ARGV[1] job id
  ARGV[2] '1' when the job's stage is final, else '0'
  ARGV[3..] field, value, field, value, ...

  Returns 1.
]]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
return 1
