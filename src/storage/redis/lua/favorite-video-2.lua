--[[
  Adds or removes one user from a video's favoriters (the video's half of FavoriteStore.apply).

  KEYS[1] v:{id}:meta         (the video must exist to be favorited)
  KEYS[2] v:{id}:favoriters   set of user ids; favorites = SCARD

  ARGV[1] 'f' (favorite) | 'u' (unfavorite)
  ARGV[2] user id

  Returns -1 when favoriting a video that does not exist; otherwise { changed (0/1), count }.
]]
if ARGV[1] == 'f' then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    return -1
  end
  local changed = redis.call('SADD', KEYS[2], ARGV[2])
  return { changed, redis.call('SCARD', KEYS[2]) }
end
local changed = redis.call('SREM', KEYS[2], ARGV[2])
return { changed, redis.call('SCARD', KEYS[2]) }
