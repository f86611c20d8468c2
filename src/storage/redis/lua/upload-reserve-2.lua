--[[
  Reserves quota for one upload, unless the user's reservations would then exceed it.
  Checking and reserving in one script is what keeps parallel creations (in any number of
  processes) from overshooting the quota.

  KEYS[1] up:{uid}        hash, upload id -> reserved bytes
  KEYS[2] up:{uid}:used   string, the sum of KEYS[1]'s values

  ARGV[1] upload id
  ARGV[2] bytes to reserve (integer >= 0)
  ARGV[3] the quota in bytes

  Returns { 1, used } when reserved (or reserved already: nothing changes),
          { 0, used } when the reservation would exceed the quota.
]]
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return { 1, used }
end
local bytes = tonumber(ARGV[2])
if used + bytes > tonumber(ARGV[3]) then
  return { 0, used }
end
redis.call('HSET', KEYS[1], ARGV[1], bytes)
return { 1, redis.call('INCRBY', KEYS[2], bytes) }
