--[[
  Applies one actor turn's ops to a video, atomically, and appends the resulting
  events to the video's log, and each op's interaction event to the slot's behaviour log.
  Mirrors MemoryVideos.applyOps exactly.

  KEYS[1] v:{id}:meta             hash: owner, views, version, head, lastComment, epoch, epochStart,
                                  bucketLikes, likerBuckets
  KEYS[2] v:{id}:likers           the legacy likers set; the buckets are `<KEYS[2]>:<n>` (include likers)
  KEYS[3] v:{id}:viewers          zset: viewer id -> last counted view (ms)
  KEYS[4] v:{id}:comments         hash: comment id -> comment JSON
  KEYS[5] v:{id}:comment-authors  hash: comment id -> author id
  KEYS[6] v:{id}:comment-order    zset, score 0 (comments = ZCARD)
  KEYS[7] v:{id}:idempotency      hash: `${authorId}:${key}` -> comment id
  KEYS[8] v:{id}:log              stream, ids `<offset>-1`
  KEYS[9] v:{id}:comment-info     hash: comment id -> `<createdMs>` or `<createdMs>:<threadId>` (a reply)
  KEYS[10] v:{id}:threads         zset, score 0: `t:<id>` top-level, `r:<threadId>:<id>` replies
  KEYS[11] v:{id}:comment-likes   zset, score 0: `<commentId>:<userId>`
  KEYS[12] v:{id}:comment-top     zset: top-level comment id -> log2(1 + likes) + createdMs / 1000 / halfLife
  KEYS[13] ix:{<slot tag>}        stream: interaction events of this slot
  KEYS[14] ix:{<slot tag>}:extra  events kept there beyond one per entry (include interaction-room)

  ARGV[1] ops as a JSON array, each op an array:
            ["l", userId, member]                    like (member: the id as likers.lua stores it)
            ["u", userId, member]                    unlike
            ["v"] | ["v", viewerId]                  view (always counted | deduplicated per viewer:
                                                     a user id or an anonymous viewer's key)
            ["c", authorId, commentId, n, createdMs, replyTo?]
                                                     comment; ARGV[n] is the idempotency key
                                                     and ARGV[n + 1] the comment JSON (client
                                                     text never goes through cjson.decode); a
                                                     reply gets threadId and replyToUserId
                                                     spliced into its JSON
            ["d", commentId, userId]                 delete a comment
            ["L" | "U", commentId, userId]           like | unlike a comment
            ["p", commentId | "", userId]            pin a top-level comment | unpin (owner only)
  ARGV[2] now (ms)
  ARGV[3] view dedup window (ms)
  ARGV[4] event log cap (MAXLEN)
  ARGV[5] a fresh epoch, stored only when the log was lost
          (no stream although events were appended since the epoch began)
  ARGV[6] `top` half-life (seconds)
  ARGV[7] interaction log bound (EXPORT_MAX_LAG)
  ARGV[8] '1': hold events for an exporter (refuse when full) | '0': ring (drop the oldest)
  ARGV[9] most events in one entry in hold mode (EXPORT_ENTRY_EVENTS; '1': one-event entries only)
  ARGV[10] the ops' interaction event ids (TSIDs, 13 characters each: op i's at (i - 1) * 13 + 1)
  ARGV[11] the video id
  ARGV[12] the interaction schema version
  ARGV[13 ..] idempotency keys and comment JSONs referenced by comment ops

  Each op's interaction event (storage/interaction-events.ts videoOpEvent: the same JSON,
  built here from the op's own fields, so the driver sends 13 characters per op instead of
  an event) is recorded when the op takes effect: a view always; like/unlike and
  comment like/unlike when changed; a comment when added; a delete when done; a pin never.
  The turn's events go to KEYS[13] together at the end, in op order: in hold mode as one
  batched entry per ARGV[9] events (one XADD per turn, not per event).

  Returns -1 when the video does not exist, -7 when the interaction log is full (hold mode);
  otherwise a cjson string
    { r = {per-op result...}, c = {likes, comments, views, version}, h = head, e = epoch,
      ev = {event JSON without its offset...} }   (events are at offsets h-#ev+1 .. h)
  A per-op result is
     1  like/unlike changed, view counted, comment added, comment deleted
     {1, json}  a reply added: its JSON with the thread fields
     {changed, likes, authorId}  a comment like/unlike
     {changed, pinnedId or ''}   a pin
     0  like/unlike unchanged, view not counted (deduplicated)
     a string: a retried comment; the JSON of the comment stored first
     2  a retried comment whose original has been deleted since
    -3  E_COMMENT_NOT_FOUND   -4  E_FORBIDDEN   -5  E_REPLY_TARGET   -10  E_PIN_TARGET
  Comment like counts that changed go out as one `comment:counters` event per comment, after
  the ops and before the video's `counters` event (the memory driver's order).
]]
--- @include "renew-epoch"
--- @include "interaction-room"
--- @include "likers"
local meta = redis.call('HMGET', KEYS[1], 'owner', 'views', 'version', 'head', 'epoch', 'lastComment', 'epochStart', 'pinned',
  'bucketLikes', 'likerBuckets')
local owner = meta[1]
if not owner then
  return -1
end
local ixMax, ixHold, ixEntry = ARGV[7], ARGV[8], ARGV[9]
-- every op records at most one event: refuse the whole turn before writing anything
local ops = cjson.decode(ARGV[1])
if not interactionRoom(KEYS[13], KEYS[14], #ops, ixMax, ixHold) then
  return -7
end
local views = tonumber(meta[2])
local version = tonumber(meta[3])
local head = tonumber(meta[4])
local epoch = renewEpoch(KEYS[1], KEYS[8], head, meta[5], meta[7], ARGV[5])
-- offset of the newest comment event: comment events chain through `prev`
local lastComment = tonumber(meta[6]) or 0

-- a video from before the bucketed likers keeps its old set until migrated (likers.lua)
-- (Redis keeps no empty set: the set exists exactly when it has members)
local legacyLikes = redis.call('SCARD', KEYS[2])
local legacy = legacyLikes > 0
local bucketLikes = tonumber(meta[9]) or 0
local likerBuckets = tonumber(meta[10]) or 1
local likes = bucketLikes + legacyLikes
local likerBucketOf = likerBucketFinder(KEYS[2], likerBuckets)
local comments = redis.call('ZCARD', KEYS[6])
local likes0, comments0, views0 = likes, comments, views
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cap = ARGV[4]
-- validate before writing anything: a script that fails half-way keeps its writes
local KINDS = { l = true, u = true, v = true, c = true, d = true, L = true, U = true, p = true }
for i = 1, #ops do
  if not KINDS[ops[i][1]] then
    return redis.error_reply('ERR video-apply: unknown op ' .. tostring(ops[i][1]))
  end
end
local halfLife = tonumber(ARGV[6])
local pinned = meta[8] or ''
-- comments whose like count changed in this turn, in order of first change
local liked, likedOrder = {}, {}
local function topScore(likes, createdMs)
  return math.log(1 + likes) / math.log(2) + createdMs / 1000 / halfLife
end
local results = {}
local events = {}
-- this turn's interaction events, recorded together after the ops
local interactions = {}
-- the parts of every interaction event that do not change within the turn
local eventIds = ARGV[10]
local eventHead = '{"v":' .. ARGV[12] .. ',"id":"'
local eventType = '","at":' .. ARGV[2] .. ',"type":"'
local eventVideo = ',"videoId":' .. cjson.encode(ARGV[11])
local eventEnd = eventVideo .. '}'
-- op i's event; `actor` is `,"userId":<json>`-like text or '' (a view by nobody known)
local function record(i, type, actor, commentId)
  local tail = commentId and (eventVideo .. ',"commentId":' .. cjson.encode(commentId) .. '}') or eventEnd
  interactions[#interactions + 1] = eventHead .. string.sub(eventIds, i * 13 - 12, i * 13) .. eventType .. type .. '"' .. actor .. tail
end
local function userField(user)
  return ',"userId":' .. cjson.encode(user)
end
-- a viewer key that is not a user id (`~<key>`, Engine.view) is an anonymous session
local function viewerField(viewer)
  if not viewer then
    return ''
  end
  if string.byte(viewer) == 126 then
    return ',"sessionId":' .. cjson.encode(string.sub(viewer, 2))
  end
  return userField(viewer)
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
    local user, member = op[2], op[3]
    local bucket = likerBucketOf(member)
    local changed
    if kind == 'l' then
      changed = (legacy and redis.call('SISMEMBER', KEYS[2], user) == 1) and 0 or redis.call('SADD', bucket, member)
      bucketLikes = bucketLikes + changed
    else
      local fromBucket = redis.call('SREM', bucket, member)
      bucketLikes = bucketLikes - fromBucket
      -- from both: an older process may have added someone to the old set who is in a bucket
      local fromLegacy = legacy and redis.call('SREM', KEYS[2], user) or 0
      changed = (fromBucket + fromLegacy > 0) and 1 or 0
    end
    if changed == 1 then
      version = version + 1
      record(i, kind == 'l' and 'like' or 'unlike', userField(user))
    end
    results[i] = changed
  elseif kind == 'v' then
    local user = op[2]
    -- a view is an interaction even when the dedup window does not count it again
    record(i, 'view', viewerField(user))
    local counted = 1
    -- a first view (the common case) is one ZADD; a repeat reads its last counted view
    if user then
      viewedByUser = true
      if redis.call('ZADD', KEYS[3], 'NX', now, user) == 0 then
        local last = redis.call('ZSCORE', KEYS[3], user)
        if now - tonumber(last) < window then
          counted = 0
        else
          redis.call('ZADD', KEYS[3], now, user)
        end
      end
    end
    if counted == 1 then
      views = views + 1
      version = version + 1
    end
    results[i] = counted
  elseif kind == 'c' then
    local author, id, n, createdMs, replyTo = op[2], op[3], op[4], op[5], op[6]
    local idemField = author .. ':' .. ARGV[n]
    local json = ARGV[n + 1]
    local existingId = redis.call('HGET', KEYS[7], idemField)
    local target = replyTo and redis.call('HGET', KEYS[5], replyTo)
    if existingId then
      results[i] = redis.call('HGET', KEYS[4], existingId) or 2
    elseif replyTo and not target then
      results[i] = -5
    else
      if replyTo then
        -- a reply to a reply joins the thread of the comment it answers
        local info = redis.call('HGET', KEYS[9], replyTo) or ''
        local sep = string.find(info, ':', 1, true)
        local thread = sep and string.sub(info, sep + 1) or replyTo
        json = string.sub(json, 1, -2) .. ',"threadId":' .. cjson.encode(thread) .. ',"replyToUserId":' .. cjson.encode(target) .. '}'
        redis.call('HSET', KEYS[9], id, createdMs .. ':' .. thread)
        redis.call('ZADD', KEYS[10], 0, 'r:' .. thread .. ':' .. id)
        results[i] = { 1, json }
      else
        redis.call('HSET', KEYS[9], id, createdMs)
        redis.call('ZADD', KEYS[10], 0, 't:' .. id)
        redis.call('ZADD', KEYS[12], topScore(0, tonumber(createdMs)), id)
        results[i] = 1
      end
      redis.call('HSET', KEYS[7], idemField, id)
      redis.call('HSET', KEYS[4], id, json)
      redis.call('HSET', KEYS[5], id, author)
      redis.call('ZADD', KEYS[6], 0, id)
      comments = comments + 1
      version = version + 1
      appendComment('"type":"comment:added","comment":' .. json .. '}')
      record(i, 'comment', userField(author), id)
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
      liked[id] = nil
      if pinned == id then
        pinned = ''
        append('{"type":"comment:pinned","commentId":null}')
      end
      local info = redis.call('HGET', KEYS[9], id)
      local sep = info and string.find(info, ':', 1, true)
      if sep then
        redis.call('ZREM', KEYS[10], 'r:' .. string.sub(info, sep + 1) .. ':' .. id)
      else
        redis.call('ZREM', KEYS[10], 't:' .. id)
        redis.call('ZREM', KEYS[12], id)
      end
      redis.call('HDEL', KEYS[9], id)
      redis.call('ZREMRANGEBYLEX', KEYS[11], '[' .. id .. ':', '(' .. id .. ';')
      comments = comments - 1
      version = version + 1
      appendComment(string.format('"type":"comment:deleted","commentId":%s,"version":%d}', cjson.encode(id), version))
      record(i, 'comment_delete', userField(user), id)
      results[i] = 1
    end
  elseif kind == 'L' or kind == 'U' then
    local id, user = op[2], op[3]
    local author = redis.call('HGET', KEYS[5], id)
    if not author then
      results[i] = -3
    else
      local changed
      if kind == 'L' then
        changed = redis.call('ZADD', KEYS[11], 'NX', 0, id .. ':' .. user)
      else
        changed = redis.call('ZREM', KEYS[11], id .. ':' .. user)
      end
      local count = redis.call('ZLEXCOUNT', KEYS[11], '[' .. id .. ':', '(' .. id .. ';')
      if changed == 1 then
        record(i, kind == 'L' and 'comment_like' or 'comment_unlike', userField(user), id)
        if liked[id] == nil then likedOrder[#likedOrder + 1] = id end
        liked[id] = count
        if redis.call('ZSCORE', KEYS[12], id) then
          local info = redis.call('HGET', KEYS[9], id)
          redis.call('ZADD', KEYS[12], topScore(count, tonumber(info)), id)
        end
      end
      results[i] = { changed, count, author }
    end
  elseif kind == 'p' then
    local id, user = op[2], op[3]
    local info = id ~= '' and redis.call('HGET', KEYS[9], id)
    if owner ~= user then
      results[i] = -4
    elseif id ~= '' and redis.call('HEXISTS', KEYS[4], id) == 0 then
      results[i] = -3
    elseif info and string.find(info, ':', 1, true) then
      results[i] = -10
    else
      local changed = pinned ~= id and 1 or 0
      pinned = id
      if changed == 1 then
        append('{"type":"comment:pinned","commentId":' .. (id == '' and 'null' or cjson.encode(id)) .. '}')
      end
      results[i] = { changed, id }
    end
  end
end

for _, id in ipairs(likedOrder) do
  if liked[id] then
    append(string.format('{"type":"comment:counters","commentId":%s,"likes":%d}', cjson.encode(id), liked[id]))
  end
end

likes = bucketLikes + (legacy and redis.call('SCARD', KEYS[2]) or 0)
if likes ~= likes0 or comments ~= comments0 or views ~= views0 then
  append(string.format('{"type":"counters","counters":{"likes":%d,"comments":%d,"views":%d,"version":%d}}',
    likes, comments, views, version))
end
if viewedByUser then
  -- a view older than the window no longer dedups anything
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
end
recordInteractions(KEYS[13], KEYS[14], interactions, ixMax, ixHold, ixEntry)
likerBuckets = likerSplits(KEYS[2], likerBuckets, bucketLikes)
redis.call('HSET', KEYS[1], 'views', views, 'version', version, 'head', head, 'lastComment', lastComment,
  'bucketLikes', bucketLikes, 'likerBuckets', likerBuckets)
if pinned ~= (meta[8] or '') then
  if pinned == '' then
    redis.call('HDEL', KEYS[1], 'pinned')
  else
    redis.call('HSET', KEYS[1], 'pinned', pinned)
  end
end

return cjson.encode({
  r = results,
  c = { likes = likes, comments = comments, views = views, version = version },
  h = head,
  e = epoch,
  ev = events,
})
