--[[
  Applies one actor turn's ops to a video, atomically, and appends the resulting
  events to the video's log, and each op's interaction event to the slot's behaviour log.
  Mirrors MemoryVideos.applyOps exactly.

  KEYS[1] v:{id}:meta             hash: owner, views, version, head, lastComment, epoch, epochStart
  KEYS[2] v:{id}:likers           set of user ids (likes = SCARD)
  KEYS[3] v:{id}:viewers          zset: viewer id -> last counted view (ms)
  KEYS[4] v:{id}:comments         hash: comment id -> comment JSON
  KEYS[5] v:{id}:comment-authors  hash: comment id -> author id
  KEYS[6] v:{id}:comment-order    zset, score 0 (comments = ZCARD)
  KEYS[7] v:{id}:idempotency      hash: `${authorId}:${key}` -> comment id
  KEYS[8] v:{id}:log              stream, ids `<offset>-1`
  KEYS[9] ix:{<slot tag>}         stream: interaction events of this slot

  ARGV[1] ops as a JSON array, each op an array:
            ["l", userId]                            like
            ["u", userId]                            unlike
            ["v"] | ["v", viewerId]                  view (always counted | deduplicated per viewer:
                                                     a user id or an anonymous viewer's key)
            ["c", authorId, commentId, n, replyTo?]  comment; ARGV[n] is the idempotency key
                                                     and ARGV[n + 1] the comment JSON (client
                                                     text never goes through cjson.decode)
            ["d", commentId, userId]                 delete a comment
  ARGV[2] now (ms)
  ARGV[3] view dedup window (ms)
  ARGV[4] event log cap (MAXLEN)
  ARGV[5] a fresh epoch, stored only when the log was lost
          (no stream although events were appended since the epoch began)
  ARGV[6] interaction log bound (EXPORT_MAX_LAG)
  ARGV[7] '1': hold events for an exporter (refuse when full) | '0': ring (drop the oldest)
  ARGV[8 .. 7 + #ops] each op's interaction event JSON, appended when the op takes effect
          (a view always; like/unlike when changed; a comment when added; a delete when done)
  ARGV[8 + #ops ..] idempotency keys and comment JSONs referenced by comment ops

  Returns -1 when the video does not exist, -7 when the interaction log is full (hold mode);
  otherwise a cjson string
    { r = {per-op result...}, c = {likes, comments, views, version}, h = head, e = epoch,
      ev = {event JSON without its offset...} }   (events are at offsets h-#ev+1 .. h)
  A per-op result is
     1  like/unlike changed, view counted, comment added, comment deleted
     0  like/unlike unchanged, view not counted (deduplicated)
     a string: a retried comment; the JSON of the comment stored first
     2  a retried comment whose original has been deleted since
    -3  E_COMMENT_NOT_FOUND   -4  E_FORBIDDEN   -5  E_REPLY_TARGET
]]
--- @include "renew-epoch"
--- @include "interaction-room"
local meta = redis.call('HMGET', KEYS[1], 'owner', 'views', 'version', 'head', 'epoch', 'lastComment', 'epochStart')
local owner = meta[1]
if not owner then
  return -1
end
local ixMax, ixHold = ARGV[6], ARGV[7]
-- every op records at most one event: refuse the whole turn before writing anything
local ops = cjson.decode(ARGV[1])
if not interactionRoom(KEYS[9], #ops, ixMax, ixHold) then
  return -7
end
local views = tonumber(meta[2])
local version = tonumber(meta[3])
local head = tonumber(meta[4])
local epoch = renewEpoch(KEYS[1], KEYS[8], head, meta[5], meta[7], ARGV[5])
-- offset of the newest comment event: comment events chain through `prev`
local lastComment = tonumber(meta[6]) or 0

local likes = redis.call('SCARD', KEYS[2])
local comments = redis.call('ZCARD', KEYS[6])
local likes0, comments0, views0 = likes, comments, views
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cap = ARGV[4]
-- validate before writing anything: a script that fails half-way keeps its writes
local KINDS = { l = true, u = true, v = true, c = true, d = true }
for i = 1, #ops do
  if not KINDS[ops[i][1]] then
    return redis.error_reply('ERR video-apply: unknown op ' .. tostring(ops[i][1]))
  end
end
local results = {}
local events = {}
local function record(i)
  recordInteraction(KEYS[9], ARGV[7 + i], ixMax, ixHold)
end
local viewedByUser = false

local function append(json)
  head = head + 1
  redis.call('XADD', KEYS[8], 'MAXLEN', cap, string.format('%d-1', head), 'e', json)
  events[#events + 1] = json
end

-- `body` is the event JSON after its opening brace and `prev` field
local function appendComment(body)
  append(string.format('{"prev":%d,', lastComment) .. body)
  lastComment = head
end

for i = 1, #ops do
  local op = ops[i]
  local kind = op[1]
  if kind == 'l' or kind == 'u' then
    -- a set membership: liking twice (or unliking what is not liked) changes nothing
    local changed = redis.call(kind == 'l' and 'SADD' or 'SREM', KEYS[2], op[2])
    if changed == 1 then
      likes = likes + (kind == 'l' and 1 or -1)
      version = version + 1
      record(i)
    end
    results[i] = changed
  elseif kind == 'v' then
    -- a view is an interaction even when the dedup window does not count it again
    record(i)
    local counted = 1
    local user = op[2]
    if user then
      viewedByUser = true
      local last = redis.call('ZSCORE', KEYS[3], user)
      if last and now - tonumber(last) < window then
        counted = 0
      else
        redis.call('ZADD', KEYS[3], now, user)
      end
    end
    if counted == 1 then
      views = views + 1
      version = version + 1
    end
    results[i] = counted
  elseif kind == 'c' then
    local author, id, n, replyTo = op[2], op[3], op[4], op[5]
    local idemField = author .. ':' .. ARGV[n]
    local json = ARGV[n + 1]
    local existingId = redis.call('HGET', KEYS[7], idemField)
    if existingId then
      results[i] = redis.call('HGET', KEYS[4], existingId) or 2
    elseif replyTo and redis.call('HEXISTS', KEYS[4], replyTo) == 0 then
      results[i] = -5
    else
      redis.call('HSET', KEYS[7], idemField, id)
      redis.call('HSET', KEYS[4], id, json)
      redis.call('HSET', KEYS[5], id, author)
      redis.call('ZADD', KEYS[6], 0, id)
      comments = comments + 1
      version = version + 1
      appendComment('"type":"comment:added","comment":' .. json .. '}')
      record(i)
      results[i] = 1
    end
  elseif kind == 'd' then
    local id, user = op[2], op[3]
    local author = redis.call('HGET', KEYS[5], id)
    if not author then
      results[i] = -3
    elseif author ~= user and owner ~= user then
      results[i] = -4
    else
      redis.call('HDEL', KEYS[4], id)
      redis.call('HDEL', KEYS[5], id)
      redis.call('ZREM', KEYS[6], id)
      comments = comments - 1
      version = version + 1
      appendComment(string.format('"type":"comment:deleted","commentId":%s,"version":%d}', cjson.encode(id), version))
      record(i)
      results[i] = 1
    end
  end
end

if likes ~= likes0 or comments ~= comments0 or views ~= views0 then
  append(string.format('{"type":"counters","counters":{"likes":%d,"comments":%d,"views":%d,"version":%d}}',
    likes, comments, views, version))
end
if viewedByUser then
  -- a view older than the window no longer dedups anything
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
end
redis.call('HSET', KEYS[1], 'views', views, 'version', version, 'head', head, 'lastComment', lastComment)

return cjson.encode({
  r = results,
  c = { likes = likes, comments = comments, views = views, version = version },
  h = head,
  e = epoch,
  ev = events,
})
