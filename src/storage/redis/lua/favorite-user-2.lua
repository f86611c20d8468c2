--[[
  Applies a user's favorite ops to their own list (the user's half of FavoriteStore.apply),
  after the videos' halves succeeded. Idempotent: a retry converges.

  KEYS[1] u:{id}:favorites          zset, score 0: `<at>:<videoId>`
  KEYS[2] u:{id}:favorite-members   hash: video id -> its member

  ARGV[1..] triples: 'f' | 'u', video id, at (a TSID)

  Returns 1.
]]
for i = 1, #ARGV, 3 do
  local video = ARGV[i + 1]
  local member = redis.call('HGET', KEYS[2], video)
  if ARGV[i] == 'f' then
    if not member then
      member = ARGV[i + 2] .. ':' .. video
      redis.call('ZADD', KEYS[1], 0, member)
      redis.call('HSET', KEYS[2], video, member)
    end
  elseif member then
    redis.call('ZREM', KEYS[1], member)
    redis.call('HDEL', KEYS[2], video)
  end
end
return 1
