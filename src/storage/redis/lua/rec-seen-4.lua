--[[
  Adds video ids to a subject's seen filter at `now`, drops entries older than the TTL and
  the oldest past `seenMax`, and keeps the subject's state alive for `stateTtl`.

  KEYS[1] u:{sid}:rec:seen   zset video id -> ms
  KEYS[2..4] u:{sid}:rec:interests, :engaged, :similar (only their TTL is refreshed)

  ARGV[1] now (ms)   ARGV[2] seenMax   ARGV[3] seenTtl (ms)   ARGV[4] stateTtl (ms)
  ARGV[5..] video ids

  Returns 1.
]]
local now = tonumber(ARGV[1])
for i = 5, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[3]) + 1))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[2]) + 1))
for i = 1, 4 do
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[4]))
end
return 1
