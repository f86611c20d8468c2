--[[
  Applies one signal to a subject: decays and moves its interest weights, trims them to the
  strongest `interestsMax`, adds the video to the seen filter and, when engaged, to the
  subject's recent engagements. Weights halve every `halfLife` ms: each is stored with the
  time it was set and decayed when next read or written (no periodic rescoring).

  KEYS[1] u:{sid}:rec:interests   hash feature -> `<weight>:<ms>`
  KEYS[2] u:{sid}:rec:seen        zset video id -> ms
  KEYS[3] u:{sid}:rec:engaged     list of video ids, newest first
  KEYS[4] u:{sid}:rec:similar     zset (only its TTL is refreshed)

  ARGV[1] now (ms)          ARGV[2] halfLife (ms)   ARGV[3] interestsMax
  ARGV[4] seenMax           ARGV[5] seenTtl (ms)    ARGV[6] engagedMax
  ARGV[7] stateTtl (ms)     ARGV[8] engaged (1/0)   ARGV[9] video id
  ARGV[10..] feature, delta, feature, delta, ...

  Returns 1.
]]
--- @include "rec-decay"
local now = tonumber(ARGV[1])
local half = tonumber(ARGV[2])
local interests_max = tonumber(ARGV[3])
local state_ttl = tonumber(ARGV[7])
local video = ARGV[9]

for i = 10, #ARGV, 2 do
  local w = rec_decayed(redis.call('HGET', KEYS[1], ARGV[i]), now, half) + tonumber(ARGV[i + 1])
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%.17g', w) .. ':' .. now)
end

local n = redis.call('HLEN', KEYS[1])
if n > interests_max then
  local all = redis.call('HGETALL', KEYS[1])
  local list = {}
  for i = 1, #all, 2 do
    list[#list + 1] = { f = all[i], a = math.abs(rec_decayed(all[i + 1], now, half)) }
  end
  table.sort(list, function(x, y)
    if x.a ~= y.a then return x.a < y.a end
    return x.f < y.f
  end)
  for i = 1, n - interests_max do
    redis.call('HDEL', KEYS[1], list[i].f)
  end
end

redis.call('ZADD', KEYS[2], now, video)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[5]) + 1))
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[4]) + 1))

if ARGV[8] == '1' then
  redis.call('LREM', KEYS[3], 0, video)
  redis.call('LPUSH', KEYS[3], video)
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
end

for i = 1, 4 do
  redis.call('PEXPIRE', KEYS[i], state_ttl)
end
return 1
