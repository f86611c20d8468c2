--[[
  Applies a patch to a job; with an owner, only while that owner holds the lease and the
  job is not final. When the patch changes the stage, the job's `job_stage` event is
  appended to the {jobs} slot's stream in the same script.

  KEYS[1] {jobs}:job:<id>
  KEYS[2] {jobs}:active
  KEYS[3] ix:{<slot tag>}    stream: interaction events of the {jobs} slot

  ARGV[1] job id
  ARGV[2] '1' to require the lease owner ARGV[3], else '0'
  ARGV[3] lease owner (ignored unless ARGV[2] is '1')
  ARGV[4] final stages, comma-separated
  ARGV[5] interaction log bound (EXPORT_MAX_LAG)
  ARGV[6] '1': hold events for an exporter | '0': ring (drop the oldest)
  ARGV[7] interaction schema version
  ARGV[8] event id (used only if the stage changes)
  ARGV[9] now (ms): the event's time
  ARGV[10] n: how many field/value pairs follow
  ARGV[11 .. 10+2n] field, value, ... to set (updatedAt included)
  ARGV[11+2n ..] fields to delete (the lease fields when the patch ends the job)

  Returns nil when the job does not exist or the owner does not hold it; otherwise the
  record as HGETALL's flat field/value array.
]]
--- @include "lease-held"
--- @include "job-stage-event"
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
local n = tonumber(ARGV[10])
if n > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 11, 10 + 2 * n))
end
if #ARGV >= 11 + 2 * n then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 11 + 2 * n))
end
local stage = redis.call('HGET', KEYS[1], 'stage')
if finals[stage] then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
if stage ~= current[1] then
  jobStageEvent(KEYS[3], KEYS[1], ARGV[1], ARGV[7], ARGV[8], ARGV[9], ARGV[5], ARGV[6])
end
return redis.call('HGETALL', KEYS[1])
