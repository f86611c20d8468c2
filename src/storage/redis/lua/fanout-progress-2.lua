--[[
  Saves how far a fan-out got and renews its holder's lease (resets the entry's idle time),
  only while that consumer holds the entry.

  KEYS[1] {fanout}:queue     stream of fan-out entries; consumer group ARGV[1]
  KEYS[2] {fanout}:cursors   hash: entry id -> follower cursor reached

  ARGV[1] consumer group name
  ARGV[2] consumer
  ARGV[3] entry id
  ARGV[4] cursor

  Returns 1 when saved, 0 when the consumer no longer holds the entry (taken over or done).
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
