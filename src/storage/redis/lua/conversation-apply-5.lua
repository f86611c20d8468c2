--[[
  A conversation actor's turn: its ops, in order, atomically (see ConversationStore.applyOps;
  the memory driver, memory/conversations.ts, follows the same rules).

  KEYS[1] c:{id}:meta     hash: id, kind, members (JSON array), head, epoch, epochStart, activity, lastMessage
  KEYS[2] c:{id}:members  hash: userId -> {"delivered","read","unread","muted"} JSON
  KEYS[3] c:{id}:log      stream, entry id `<seq>-1`, field 'e' = entry JSON, MAXLEN logMax
  KEYS[4] c:{id}:idem     zset `<senderId>:<key>` -> seq of the message sent with it
  KEYS[5] c:{id}:deleted  zset of deleted message seqs

  ARGV[1] now (ms)
  ARGV[2] logMax
  ARGV[3] a fresh epoch (for a new conversation, or one whose log was lost)
  ARGV[4] create: '' or {"kind":...,"members":[...]} JSON
  ARGV[5] ops JSON array (ConversationOp; a delete carries notBeforeIso, its notBefore as an ISO
          date, which compares with createdAt as text)

  Returns -6 when the conversation does not exist and no create was given; otherwise the
  JSON {results, events, departed, state}. Kept small, since it is the whole turn's reply: a
  new message is encoded once, in events (its send result names it by `event`, its 1-based
  index there, and state by `lastSeq` when it is the last message), and the state is made from
  what the script already holds rather than read back.
]]
--- @include "renew-epoch"
--- @include "dm-entry"
local now = tonumber(ARGV[1])
local logMax = tonumber(ARGV[2])
local id = string.match(KEYS[1], '{([^}]*)}')

if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[4] == '' then
    return -6
  end
  local create = cjson.decode(ARGV[4])
  local members, seen = {}, {}
  for _, m in ipairs(create.members) do
    if not seen[m] then
      seen[m] = true
      members[#members + 1] = m
      redis.call('HSET', KEYS[2], m, cjson.encode({ delivered = 0, read = 0, unread = 0, muted = false }))
    end
  end
  redis.call('HSET', KEYS[1], 'id', id, 'kind', create.kind, 'members', cjson.encode(members), 'head', 0, 'epoch', ARGV[3], 'epochStart', 0, 'activity', now, 'lastMessage', 0)
end

local meta = redis.call('HMGET', KEYS[1], 'kind', 'members', 'head', 'epoch', 'epochStart', 'activity', 'lastMessage')
local kind = meta[1]
local members = cjson.decode(meta[2])
local head = tonumber(meta[3])
local epoch = renewEpoch(KEYS[1], KEYS[3], head, meta[4], meta[5], ARGV[3])
local activity = tonumber(meta[6])
local lastMessage = tonumber(meta[7])
local membersChanged = false

local states = {}
local function member(userId)
  if states[userId] == nil then
    local raw = redis.call('HGET', KEYS[2], userId)
    states[userId] = raw and cjson.decode(raw) or false
  end
  return states[userId]
end

local events, departed, results = {}, {}, {}
-- seq -> index in events of the messages this batch appended
local appended = {}
local function append(entry)
  redis.call('XADD', KEYS[3], 'MAXLEN', logMax, string.format('%d-1', entry.seq), 'e', cjson.encode(entry))
  events[#events + 1] = entry
  return #events
end

local function unreadAfter(userId, read)
  if read >= head then
    return 0
  end
  local n = 0
  for _, se in ipairs(redis.call('XRANGE', KEYS[3], string.format('%d-1', read + 1), '+')) do
    local e = dmDecode(se, KEYS[5])
    if e.type == 'message' and not e.message.deleted and e.message.senderId ~= userId then
      n = n + 1
    end
  end
  return n
end

local function newestMessage()
  local cursor = '+'
  while true do
    local page = redis.call('XREVRANGE', KEYS[3], cursor, '-', 'COUNT', 100)
    if not page[1] then
      return 0
    end
    for _, se in ipairs(page) do
      local e = dmDecode(se, KEYS[5])
      if e.type == 'message' and not e.message.deleted then
        return e.seq
      end
    end
    cursor = '(' .. page[#page][1]
  end
end

local function withId(userId, s)
  return { userId = userId, delivered = s.delivered, read = s.read, unread = s.unread, muted = s.muted }
end

for i, op in ipairs(cjson.decode(ARGV[5])) do
  local userId = op.userId or (op.message and op.message.senderId)
  local me = member(userId)
  if not me then
    results[i] = { ok = false, code = 'E_CONVERSATION_NOT_FOUND' }
  elseif op.type == 'send' then
    local idem = userId .. ':' .. op.idempotencyKey
    local seen = redis.call('ZSCORE', KEYS[4], idem)
    local earlier = seen and dmEntryAt(KEYS[3], KEYS[5], tonumber(seen))
    if earlier and earlier.type == 'message' then
      results[i] = { ok = true, type = 'send', message = earlier.message, duplicate = true }
    elseif op.message.replyTo and not (function()
      local t = dmEntryAt(KEYS[3], KEYS[5], op.message.replyTo)
      return t and t.type == 'message'
    end)() then
      results[i] = { ok = false, code = 'E_REPLY_TARGET' }
    else
      head = head + 1
      local message = op.message
      message.id = id .. ':' .. head
      message.conversationId = id
      message.seq = head
      appended[head] = append({ type = 'message', seq = head, message = message })
      redis.call('ZADD', KEYS[4], head, idem)
      lastMessage = head
      if now > activity then activity = now end
      for _, m in ipairs(members) do
        local s = member(m)
        if m == userId then
          s.delivered = head
          s.read = head
          s.unread = 0
        else
          s.unread = s.unread + 1
        end
      end
      results[i] = { ok = true, type = 'send', event = appended[head], duplicate = false }
    end
  elseif op.type == 'delete' then
    local target = dmEntryAt(KEYS[3], KEYS[5], op.messageSeq)
    if not target or target.type ~= 'message' then
      results[i] = { ok = false, code = 'E_MESSAGE_NOT_FOUND' }
    elseif target.message.senderId ~= userId then
      results[i] = { ok = false, code = 'E_FORBIDDEN' }
    elseif target.message.deleted then
      results[i] = { ok = true, type = 'delete', deleted = false }
    elseif target.message.createdAt < op.notBeforeIso then
      results[i] = { ok = false, code = 'E_DM_DELETE_EXPIRED' }
    else
      redis.call('ZADD', KEYS[5], op.messageSeq, op.messageSeq)
      for _, m in ipairs(members) do
        local s = member(m)
        if m ~= userId and s.read < op.messageSeq and s.unread > 0 then
          s.unread = s.unread - 1
        end
      end
      head = head + 1
      append({ type = 'deleted', seq = head, messageSeq = op.messageSeq, userId = userId })
      if lastMessage == op.messageSeq then
        lastMessage = newestMessage()
      end
      if now > activity then activity = now end
      results[i] = { ok = true, type = 'delete', deleted = true }
    end
  elseif op.type == 'receipt' then
    local read = math.min(op.read or 0, head)
    local delivered = math.min(math.max(op.delivered or 0, read), head)
    local before = { me.delivered, me.read }
    if delivered > me.delivered then me.delivered = delivered end
    if read > me.read then
      me.read = read
      if read > me.delivered then me.delivered = read end
      me.unread = unreadAfter(userId, read)
    end
    local changed = before[1] ~= me.delivered or before[2] ~= me.read
    results[i] = { ok = true, type = 'receipt', member = withId(userId, me), changed = changed }
  elseif op.type == 'mute' then
    me.muted = op.muted
    results[i] = { ok = true, type = 'mute', member = withId(userId, me) }
  elseif op.type == 'leave' then
    if kind ~= 'group' then
      results[i] = { ok = false, code = 'E_FORBIDDEN' }
    else
      local rest = {}
      for _, m in ipairs(members) do
        if m ~= userId then rest[#rest + 1] = m end
      end
      members = rest
      membersChanged = true
      states[userId] = false
      redis.call('HDEL', KEYS[2], userId)
      departed[#departed + 1] = userId
      head = head + 1
      append({ type = 'left', seq = head, userId = userId })
      if now > activity then activity = now end
      results[i] = { ok = true, type = 'leave', changed = true }
    end
  end
end

for userId, s in pairs(states) do
  if s then
    redis.call('HSET', KEYS[2], userId, cjson.encode(s))
  end
end
-- idempotency keys and deletions leave with their log entries
local oldest = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)
local first = oldest[1] and tonumber(string.match(oldest[1][1], '^(%d+)')) or head + 1
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. first)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. first)
if lastMessage > 0 and lastMessage < first then
  lastMessage = newestMessage()
end
redis.call('HSET', KEYS[1], 'head', head, 'activity', activity, 'lastMessage', lastMessage)
if membersChanged then
  redis.call('HSET', KEYS[1], 'members', cjson.encode(members))
end

local memberStates = {}
for i, m in ipairs(members) do
  memberStates[i] = withId(m, member(m))
end
local state = { id = id, kind = kind, members = members, memberStates = memberStates, head = head, epoch = epoch, activity = activity }
if lastMessage > 0 then
  if appended[lastMessage] then
    state.lastSeq = lastMessage
  else
    local e = dmEntryAt(KEYS[3], KEYS[5], lastMessage)
    if e and e.type == 'message' then
      state.lastMessage = e.message
    end
  end
end

return cjson.encode({ results = results, events = events, departed = departed, state = state })
