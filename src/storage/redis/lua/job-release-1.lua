--[[
  Gives up a job's lease on a graceful shutdown: the job can be claimed again at once, and
  the interrupted attempt is not counted against it (it did not fail, its process stopped).

  KEYS[1] {jobs}:job:<id>

  ARGV[1] owner
  ARGV[2] final stages, comma-separated

  Returns 1 when released, 0 when the job is gone, final, or held by someone else.
]]
--- @include "lease-held"
local job = redis.call('HMGET', KEYS[1], 'stage', 'leaseOwner', 'attempts')
if not leaseHeld(job[1], job[2], ARGV[1], ARGV[2]) then
  return 0
end
redis.call('HDEL', KEYS[1], 'leaseOwner', 'leaseUntil')
redis.call('HSET', KEYS[1], 'attempts', math.max(0, (tonumber(job[3]) or 0) - 1))
return 1
