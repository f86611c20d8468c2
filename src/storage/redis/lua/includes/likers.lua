--[[
  A video's likers, laid out to be small (issue 21): members are the user ids as decimal
  integers (a TSID is a 64-bit integer; the driver converts, `likerMember` in redis/likers.ts; an id
  that is not a TSID is stored as `s:<id>`), spread over buckets `<likers key>:<n>` that each
  stay under `set-max-intset-entries` (512 by default), so Redis keeps every bucket as an
  intset: 8 bytes a member instead of ~56 for a hashtable entry of a 13-character string.

  Buckets grow by linear hashing, one split at a time: with B buckets and N the largest power
  of two <= B, a member hashing to h lives in bucket h % 2N, or h % N when that is >= B. A
  split moves bucket B - N's members whose h % 2N = B into the new bucket B, so a split touches
  one bucket only (~300 members) and the others stay as they are. A split happens whenever
  the bucketed likers exceed LIKER_SPLIT per bucket, so a bucket not yet split at this level
  holds about 2 x LIKER_SPLIT at most, below 512. Buckets never merge (unlikes leave them).
  h (likerHash) mixes only the id's last 9 decimal digits: Lua numbers are doubles, so no
  arithmetic is ever done on the 64-bit id itself.

  The bucket keys are not in the script's KEYS: they are derived from the likers key, share
  its hash tag and so its Cluster slot (Redis 7 accepts undeclared keys of the script's slot).

  Meta fields: `bucketLikes` (the buckets' members; likes = bucketLikes + SCARD of the legacy
  set) and `likerBuckets` (B). A video written before this layout has neither: its likers are
  the legacy set (the likers key itself, 13-character ids). It is read as well as the buckets:
  a like of someone in it changes nothing, an unlike removes them from both, until the
  driver's migration (`RedisStore.migrateLikers`) has moved them all into buckets. Counting the
  legacy set live (not once) keeps the count right while older processes still add to it
  during a rolling upgrade.
]]
local LIKER_SPLIT = 200

-- A TSID's member: its last 9 digits (they vary with the millisecond as well as with the
-- per-millisecond sequence, whose low bits are mostly 0) read as one number from their byte
-- codes (< 2^33), then one Lehmer step modulo the prime 2^31 - 1 (the product stays below
-- 2^53: exact as a double). string.byte makes no new string: a split hashes ~300 members.
-- Anything else (`s:<id>`): SHA-1, slower but rare.
local function likerHash(member)
  if string.byte(member) == 115 then
    return tonumber(string.sub(redis.sha1hex(member), 1, 8), 16)
  end
  local a, b, c, d, e, f, g, h, i = string.byte(member, -9, -1)
  local x = ((((((((a * 10 + (b or 0)) * 10 + (c or 0)) * 10 + (d or 0)) * 10 + (e or 0)) * 10 + (f or 0)) * 10
    + (g or 0)) * 10 + (h or 0)) * 10 + (i or 0))
  return (x * 48271) % 2147483647
end

-- The bucket of a member among `buckets` buckets, as a function (the level and the key names
-- are worked out once per script, not once per like).
local function likerBucketFinder(likersKey, buckets)
  local n = 1
  while n * 2 <= buckets do
    n = n * 2
  end
  local names = {}
  return function(member)
    local h = likerHash(member)
    local b = h % (2 * n)
    if b >= buckets then
      b = h % n
    end
    local key = names[b]
    if not key then
      key = likersKey .. ':' .. b
      names[b] = key
    end
    return key
  end
end

-- SADD/SREM in slices: unpack() of a long table overflows Lua's C stack
local function likerEach(command, key, members)
  for i = 1, #members, 500 do
    redis.call(command, key, unpack(members, i, math.min(i + 499, #members)))
  end
end

-- Splits buckets until the bucketed likers fit; returns the new bucket count.
local function likerSplits(likersKey, buckets, bucketed)
  while bucketed > LIKER_SPLIT * buckets do
    local n = 1
    while n * 2 <= buckets do
      n = n * 2
    end
    local from = likersKey .. ':' .. (buckets - n)
    local compact = redis.call('OBJECT', 'ENCODING', from) == 'intset'
    local stay, move = {}, {}
    for _, m in ipairs(redis.call('SMEMBERS', from)) do
      if likerHash(m) % (2 * n) == buckets then
        move[#move + 1] = m
      elseif not compact then
        stay[#stay + 1] = m
      end
    end
    if compact or #stay == 0 then
      likerEach('SREM', from, move)
    else
      -- a set that ever outgrew its intset stays a hashtable: written anew, it is compact again
      redis.call('DEL', from)
      likerEach('SADD', from, stay)
    end
    likerEach('SADD', likersKey .. ':' .. buckets, move)
    buckets = buckets + 1
  end
  return buckets
end

-- Every bucket key of a video with `buckets` buckets, for DEL.
local function likerDeleteAll(likersKey, buckets)
  local keys = {}
  for b = 0, buckets - 1 do
    keys[#keys + 1] = likersKey .. ':' .. b
    if #keys == 500 then
      redis.call('DEL', unpack(keys))
      keys = {}
    end
  end
  if #keys > 0 then
    redis.call('DEL', unpack(keys))
  end
end
