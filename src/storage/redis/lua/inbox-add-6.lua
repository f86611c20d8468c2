--[[
  Folds a batch of notifications into one user's inbox: one entry per (type, target) within
  the window, with the latest actors first and a count; trims the inbox to its bound (the
  least recently updated entries go first). The memory driver's social.ts does the same.

  KEYS[1] u:{id}:notes          zset: entry id -> update sequence
  KEYS[2] u:{id}:notes:data     hash: entry id -> entry JSON, `<id>:n` -> latest notification JSON
  KEYS[3] u:{id}:notes:agg      hash: `<type>|<target>` -> entry id
  KEYS[4] u:{id}:notes:unread   set of unread entry ids
  KEYS[5] u:{id}:notes:seq      the update sequence
  KEYS[6] u:{id}:blocks         ids the user blocks: their notifications are dropped

  ARGV[1] now (ms)   ARGV[2] window (ms)   ARGV[3] max entries   ARGV[4] actors kept
  ARGV[5] now as an ISO date
  ARGV[6..] per item: entryId, type, target, notification JSON, n, n actor ids

  Returns { unread, entry JSON, notification JSON, ... } for each entry the batch created or
  updated that is still kept, in update order.
]]
local now, window, max, kept = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local iso = ARGV[5]
local lastSeq = {}
local i = 6
while i <= #ARGV do
  local entryId, typ, target, note, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
  local actors = {}
  for k = 1, n do
    local a = ARGV[i + 4 + k]
    if not redis.call('ZSCORE', KEYS[6], a) then
      actors[#actors + 1] = a
    end
  end
  i = i + 5 + n
  if n == 0 or #actors > 0 then
    local key = typ .. '|' .. target
    local e = nil
    local id = redis.call('HGET', KEYS[3], key)
    if id then
      local raw = redis.call('HGET', KEYS[2], id)
      if raw then
        e = cjson.decode(raw)
        if now - e.startedAt >= window then
          e = nil
        end
      end
    end
    if not e then
      e = { id = entryId, type = typ, target = target, actorIds = {}, count = 0, createdAt = iso, startedAt = now }
      redis.call('HSET', KEYS[3], key, entryId)
    end
    local ids = e.actorIds
    for _, a in ipairs(actors) do
      local nxt = { a }
      for _, x in ipairs(ids) do
        if x ~= a and #nxt < kept then
          nxt[#nxt + 1] = x
        end
      end
      ids = nxt
    end
    e.actorIds = ids
    e.count = e.count + math.max(1, #actors)
    e.updatedAt = iso
    e.seq = redis.call('INCR', KEYS[5])
    redis.call('HSET', KEYS[2], e.id, cjson.encode(e), e.id .. ':n', note)
    redis.call('ZADD', KEYS[1], e.seq, e.id)
    redis.call('SADD', KEYS[4], e.id)
    lastSeq[e.id] = e.seq
  end
end

local size = redis.call('ZCARD', KEYS[1])
if size > max then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, size - max - 1)) do
    local raw = redis.call('HGET', KEYS[2], id)
    if raw then
      local e = cjson.decode(raw)
      local key = e.type .. '|' .. e.target
      if redis.call('HGET', KEYS[3], key) == id then
        redis.call('HDEL', KEYS[3], key)
      end
    end
    redis.call('HDEL', KEYS[2], id, id .. ':n')
    redis.call('SREM', KEYS[4], id)
    redis.call('ZREM', KEYS[1], id)
    lastSeq[id] = nil
  end
end

local touched = {}
for id, seq in pairs(lastSeq) do
  touched[#touched + 1] = { id, seq }
end
table.sort(touched, function(a, b) return a[2] < b[2] end)
local out = { redis.call('SCARD', KEYS[4]) }
for _, t in ipairs(touched) do
  local fields = redis.call('HMGET', KEYS[2], t[1], t[1] .. ':n')
  out[#out + 1] = fields[1]
  out[#out + 1] = fields[2]
end
return out
