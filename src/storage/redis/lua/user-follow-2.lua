--[[
  The follower's side of follow/unfollow: one user's ops, in order, atomically.
  (The followee's side, u:{target}:followers, is in another slot; the driver writes it next.)

  KEYS[1] u:{id}              the follower's record
  KEYS[2] u:{id}:following    zset of followed ids, score 0

  ARGV pairs: 'f' | 'u', targetId   (follow | unfollow; targets already checked to exist)

  Returns -2 when the follower does not exist; otherwise { 1 | 0 per op } (changed or not).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -2
end
local changed = {}
for i = 1, #ARGV, 2 do
  if ARGV[i] == 'f' then
    changed[#changed + 1] = redis.call('ZADD', KEYS[2], 0, ARGV[i + 1])
  else
    changed[#changed + 1] = redis.call('ZREM', KEYS[2], ARGV[i + 1])
  end
end
return changed
