--[[
  Creates (or replaces) a job record, and appends its interaction events (the `upload` that
  made it, when given, then `job_stage` queued) to the {jobs} slot's stream, atomically.

  KEYS[1] {jobs}:job:<id>    hash, one field per JobRecord property
  KEYS[2] {jobs}:active      zset of ids of jobs not in a final stage, score 0
  KEYS[3] ix:{<slot tag>}    stream: interaction events of the {jobs} slot

  ARGV[1] job id
  ARGV[2] '1' when the job's stage is final, else '0'
  ARGV[3] interaction log bound (EXPORT_MAX_LAG)
  ARGV[4] '1': hold events for an exporter | '0': ring (drop the oldest)
  ARGV[5] the `upload` event JSON, or '' for none
  ARGV[6] the `job_stage` event JSON
  ARGV[7..] field, value, field, value, ...

  Returns 1.
]]
--- @include "interaction-room"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
if ARGV[5] ~= '' then
  recordInteraction(KEYS[3], ARGV[5], ARGV[3], ARGV[4])
end
recordInteraction(KEYS[3], ARGV[6], ARGV[3], ARGV[4])
return 1
