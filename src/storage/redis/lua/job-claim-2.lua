--[[
  Claims the oldest job (lowest id) that is queued or whose lease has lapsed, counting an
  attempt. A job that has used up its attempts is marked failed instead (with its
  `job_stage` event, appended to the {jobs} slot's stream), and the scan goes on. Each
  failure uses one of the event ids given; once they are used up, further used-up jobs are
  left for the next claim.

  KEYS[1] {jobs}:active     zset of ids of jobs not in a final stage, score 0 (lex = age)
  KEYS[2] ix:{<slot tag>}   stream: interaction events of the {jobs} slot
  Job hashes are ARGV[1] .. id: they share the {jobs} hash tag with KEYS[1], so they are in
  this script's slot even though they cannot be listed in KEYS before the scan.

  ARGV[1] job key prefix ({jobs}:job:)
  ARGV[2] owner (node id)
  ARGV[3] now (ms)
  ARGV[4] lease end (ms)
  ARGV[5] max attempts
  ARGV[6] now as an ISO string (updatedAt)
  ARGV[7] final stages, comma-separated
  ARGV[8] interaction log bound (EXPORT_MAX_LAG)
  ARGV[9] '1': hold events for an exporter | '0': ring (drop the oldest)
  ARGV[10] interaction schema version
  ARGV[11..] event ids for the failures

  Returns nil when nothing can be claimed; otherwise the claimed record as HGETALL's flat
  field/value array.
]]
--- @include "job-stage-event"
local finals = {}
for stage in string.gmatch(ARGV[7], '[^,]+') do
  finals[stage] = true
end
local now = tonumber(ARGV[3])
local maxAttempts = tonumber(ARGV[5])
local nextEventId = 11
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local key = ARGV[1] .. id
  local job = redis.call('HMGET', key, 'stage', 'leaseUntil', 'attempts')
  if not job[1] or finals[job[1]] then
    redis.call('ZREM', KEYS[1], id) -- gone or finished: no longer claimable
  elseif not job[2] or tonumber(job[2]) <= now then
    local attempts = tonumber(job[3]) or 0
    if attempts < maxAttempts then
      redis.call('HSET', key, 'attempts', attempts + 1, 'leaseOwner', ARGV[2], 'leaseUntil', ARGV[4], 'updatedAt', ARGV[6])
      return redis.call('HGETALL', key)
    elseif nextEventId <= #ARGV then
      redis.call('HSET', key, 'stage', 'failed', 'updatedAt', ARGV[6], 'error',
        string.format('{"code":"E_JOB_TIMEOUT","message":"gave up after %d attempts"}', attempts))
      redis.call('HDEL', key, 'leaseOwner', 'leaseUntil')
      redis.call('ZREM', KEYS[1], id)
      jobStageEvent(KEYS[2], key, id, ARGV[10], ARGV[nextEventId], ARGV[3], ARGV[8], ARGV[9])
      nextEventId = nextEventId + 1
    end
  end
end
return nil
