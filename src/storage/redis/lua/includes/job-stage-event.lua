-- The `job_stage` interaction event (storage/interaction-events.ts jobStageEvent) of a job
-- whose stage a script just changed, appended to the {jobs} slot's stream in the same
-- script. Job events bypass the hold-mode bound: a media job must be able to finish.
--- @include "interaction-room"
local function jobStageEvent(stream, jobKey, jobId, schema, eventId, at, max, hold)
  local f = redis.call('HMGET', jobKey, 'ownerId', 'stage', 'videoId')
  local event = { v = tonumber(schema), id = eventId, type = 'job_stage', at = tonumber(at), jobId = jobId, stage = f[2] }
  if f[1] then event.userId = f[1] end
  if f[3] then event.videoId = f[3] end
  recordInteraction(stream, cjson.encode(event), max, hold)
end
