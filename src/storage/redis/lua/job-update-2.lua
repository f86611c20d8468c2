--[[
  Applies a patch to a job; with an owner, only while that owner holds the lease and the
  job is not final.

  KEYS[1] {jobs}:job:<id>
  KEYS[2] {jobs}:active

  ARGV[1] job id
  ARGV[2] '1' to require the lease owner ARGV[3], else '0'
  ARGV[3] lease owner (ignored unless ARGV[2] is '1')
  ARGV[4] final stages, comma-separated
  ARGV[5] n: how many field/value pairs follow
  ARGV[6 .. 5+2n] field, value, ... to set (updatedAt included)
  ARGV[6+2n ..] fields to delete (the lease fields when the patch ends the job)

  Returns nil when the job does not exist or the owner does not hold it; otherwise the
  record as HGETALL's flat field/value array.
]]
--- @include "lease-held"
local finals = {}
for stage in string.gmatch(ARGV[4], '[^,]+') do
  finals[stage] = true
end
local current = redis.call('HMGET', KEYS[1], 'stage', 'leaseOwner')
if not current[1] then
  return nil
end
if ARGV[2] == '1' and not leaseHeld(current[1], current[2], ARGV[3], ARGV[4]) then
  return nil
end
local n = tonumber(ARGV[5])
if n > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 6, 5 + 2 * n))
end
if #ARGV >= 6 + 2 * n then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 6 + 2 * n))
end
if finals[redis.call('HGET', KEYS[1], 'stage')] then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
return redis.call('HGETALL', KEYS[1])
