--[[
  Queues a post's fan-out, unless `max` entries already wait (in progress included: an entry
  leaves the stream only when its fan-out is done).

  KEYS[1] {fanout}:queue     stream of fan-out entries, fields v (video id), a (author id),
                             at (ms queued), tp (W3C traceparent, when traced); consumer
                             group ARGV[1]

  ARGV[1] consumer group name
  ARGV[2] max entries waiting
  ARGV[3] video id
  ARGV[4] author id
  ARGV[5] at (ms)
  ARGV[6] traceparent ('' when none)

  Returns { entry id, entries waiting now }, or -16 when the queue is full.
]]
-- the group reads from the stream's start, so nothing added before it existed is missed
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local waiting = redis.call('XLEN', KEYS[1])
if waiting >= tonumber(ARGV[2]) then
  return -16
end
local id
if ARGV[6] ~= nil and ARGV[6] ~= '' then
  id = redis.call('XADD', KEYS[1], '*', 'v', ARGV[3], 'a', ARGV[4], 'at', ARGV[5], 'tp', ARGV[6])
else
  id = redis.call('XADD', KEYS[1], '*', 'v', ARGV[3], 'a', ARGV[4], 'at', ARGV[5])
end
return { id, waiting + 1 }
