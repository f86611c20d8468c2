--[[
  The follower's side of follow/unfollow: one user's ops, in order, atomically.
  (The followee's side, u:{target}:followers, is in another slot; the driver writes it next.)
  A follow is refused while either user blocks the other: both facts live in the follower's
  slot (its own blocks, and the blocked-by set a block writes on the blocked user's side).

  KEYS[1] u:{id}              the follower's record
  KEYS[2] u:{id}:following    zset of followed ids, score 0
  KEYS[3] u:{id}:blocks       zset of ids the follower blocks
  KEYS[4] u:{id}:blocked-by   zset of ids blocking the follower

  ARGV pairs: 'f' | 'u', targetId   (follow | unfollow; targets already checked to exist)

  Returns -2 when the follower does not exist; otherwise { 1 | 0 | 2 per op }
  (changed, unchanged, or refused because of a block).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -2
end
local changed = {}
for i = 1, #ARGV, 2 do
  local target = ARGV[i + 1]
  if ARGV[i] == 'f' then
    if redis.call('ZSCORE', KEYS[3], target) or redis.call('ZSCORE', KEYS[4], target) then
      changed[#changed + 1] = 2
    else
      changed[#changed + 1] = redis.call('ZADD', KEYS[2], 0, target)
    end
  else
    changed[#changed + 1] = redis.call('ZREM', KEYS[2], target)
  end
end
return changed
