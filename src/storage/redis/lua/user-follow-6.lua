--[[
  The follower's side of follow/unfollow: one user's ops, in order, atomically, each change
  recorded in the slot's behaviour log.
  (The followee's side, u:{target}:followers, is in another slot; the driver writes it next.)
  A follow is refused while either user blocks the other: both facts live in the follower's
  slot (its own blocks, and the blocked-by set a block writes on the blocked user's side).

  KEYS[1] u:{id}              the follower's record
  KEYS[2] u:{id}:following    zset of followed ids, score 0
  KEYS[3] u:{id}:blocks       zset of ids the follower blocks
  KEYS[4] u:{id}:blocked-by   zset of ids blocking the follower
  KEYS[5] ix:{<slot tag>}     stream: interaction events of this slot
  KEYS[6] ix:{<slot tag>}:extra  events kept there beyond one per entry (include interaction-room)

  ARGV[1] interaction log bound (EXPORT_MAX_LAG)
  ARGV[2] '1': hold events for an exporter (refuse when full) | '0': ring (drop the oldest)
  ARGV[3] most events in one entry in hold mode (EXPORT_ENTRY_EVENTS; '1': one-event entries only)
  ARGV[4..] triples 'f' | 'u', targetId, event JSON   (follow | unfollow; targets already
            checked to exist; the event is recorded when the op changes something, all
            of the call's events together: include interaction-room)

  Returns -2 when the follower does not exist, -7 when the interaction log is full (hold
  mode); otherwise { 1 | 0 | 2 per op } (changed, unchanged, or refused because of a block).
]]
--- @include "interaction-room"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -2
end
if not interactionRoom(KEYS[5], KEYS[6], (#ARGV - 3) / 3, ARGV[1], ARGV[2]) then
  return -7
end
local changed = {}
local jsons = {}
for i = 4, #ARGV, 3 do
  local target = ARGV[i + 1]
  local c
  if ARGV[i] == 'f' then
    if redis.call('ZSCORE', KEYS[3], target) or redis.call('ZSCORE', KEYS[4], target) then
      c = 2
    else
      c = redis.call('ZADD', KEYS[2], 0, target)
    end
  else
    c = redis.call('ZREM', KEYS[2], target)
  end
  if c == 1 then
    jsons[#jsons + 1] = ARGV[i + 2]
  end
  changed[#changed + 1] = c
end
recordInteractions(KEYS[5], KEYS[6], jsons, ARGV[1], ARGV[2], ARGV[3])
return changed
