--[[
  Gives a fan-out entry back (graceful shutdown): its idle time is set to the lease, so any
  process's next claim takes it over, with the cursor saved so far.

  KEYS[1] {fanout}:queue     stream of fan-out entries; consumer group ARGV[1]

  ARGV[1] consumer group name
  ARGV[2] consumer
  ARGV[3] entry id
  ARGV[4] lease (ms)

  Returns 1 when given back, 0 when the consumer no longer holds the entry.
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
