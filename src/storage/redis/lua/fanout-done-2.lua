--[[
  Ends a fan-out: the entry leaves the group and the stream (XLEN counts what still waits),
  and its cursor goes. Idempotent.

  KEYS[1] {fanout}:queue     stream of fan-out entries; consumer group ARGV[1]
  KEYS[2] {fanout}:cursors   hash: entry id -> follower cursor reached

  ARGV[1] consumer group name
  ARGV[2] entry id

  Returns 1.
]]
redis.pcall('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
