--[[
  Queues a post's fan-out, unless `max` entries already wait (in progress included: an entry
  leaves the stream only when its fan-out is done).

  KEYS[1] {fanout}:queue     stream of fan-out entries, fields v (video id), a (author id),
                             at (ms queued), tp and ts (W3C traceparent and tracestate,
                             when traced); consumer group ARGV[1]

  ARGV[1] consumer group name
  ARGV[2] max entries waiting
  ARGV[3] video id
  ARGV[4] author id
  ARGV[5] at (ms)
  ARGV[6] traceparent ('' when none)
  ARGV[7] tracestate ('' when none)

  Returns { entry id, entries waiting now }, or -16 when the queue is full.
]]
-- the group reads from the stream's start, so nothing added before it existed is missed
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local waiting = redis.call('XLEN', KEYS[1])
if waiting >= tonumber(ARGV[2]) then
  return -16
end
local fields = { 'v', ARGV[3], 'a', ARGV[4], 'at', ARGV[5] }
if ARGV[6] ~= nil and ARGV[6] ~= '' then
  fields[#fields + 1] = 'tp'
  fields[#fields + 1] = ARGV[6]
  if ARGV[7] ~= nil and ARGV[7] ~= '' then
    fields[#fields + 1] = 'ts'
    fields[#fields + 1] = ARGV[7]
  end
end
local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
return { id, waiting + 1 }
