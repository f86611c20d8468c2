--[[
  The blocker's side of a block (the blocked user's u:{target}:blocked-by is in another slot;
  the driver writes it next, idempotently).

  KEYS[1] u:{id}:blocks   zset of ids the user blocks, score 0

  ARGV[1] targetId
  ARGV[2] the most ids one user may block (BLOCKS_MAX)

  Returns 1 when added, 0 when already blocked, -8 when the user already blocks ARGV[2] ids.
]]
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return -8
end
return redis.call('ZADD', KEYS[1], 0, ARGV[1])
