--[[
  Extends a job's lease while `owner` holds it and the job is not final.

  KEYS[1] {jobs}:job:<id>

  ARGV[1] owner
  ARGV[2] new lease end (ms)
  ARGV[3] final stages, comma-separated

  Returns 1 when renewed, 0 when the job is gone, final, or held by someone else.
]]
--- @include "lease-held"
local job = redis.call('HMGET', KEYS[1], 'stage', 'leaseOwner')
if not leaseHeld(job[1], job[2], ARGV[1], ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'leaseUntil', ARGV[2])
return 1
