--[[
  Reading a conversation's log: one entry by seq, decoded, with a deleted message shown as
  the stub everyone sees after "delete for everyone" (the stream entry itself is immutable,
  so deletions are kept beside it in c:{id}:deleted).

  logKey      c:{id}:log      stream, entry id `<seq>-1`, field 'e' = entry JSON
  deletedKey  c:{id}:deleted  zset of deleted message seqs (score = seq)
]]
local function dmShown(entry, deletedKey)
  if entry.type == 'message' and redis.call('ZSCORE', deletedKey, entry.seq) then
    local m = entry.message
    entry.message = { id = m.id, conversationId = m.conversationId, seq = m.seq, senderId = m.senderId, createdAt = m.createdAt, text = '', deleted = true }
  end
  return entry
end

local function dmDecode(streamEntry, deletedKey)
  return dmShown(cjson.decode(streamEntry[2][2]), deletedKey)
end

local function dmEntryAt(logKey, deletedKey, seq)
  local id = string.format('%d-1', seq)
  local found = redis.call('XRANGE', logKey, id, id)
  if not found[1] then
    return nil
  end
  return dmDecode(found[1], deletedKey)
end

--[[ The conversation as the driver returns it (see ConversationState), or nil when it does not exist. ]]
local function dmState(metaKey, membersKey, logKey, deletedKey, epoch)
  local meta = redis.call('HMGET', metaKey, 'kind', 'members', 'head', 'activity', 'lastMessage', 'id')
  if not meta[1] then
    return nil
  end
  local members = cjson.decode(meta[2])
  local states = {}
  for i, userId in ipairs(members) do
    local s = cjson.decode(redis.call('HGET', membersKey, userId) or '{"delivered":0,"read":0,"unread":0,"muted":false}')
    s.userId = userId
    states[i] = s
  end
  local state = { id = meta[6], kind = meta[1], members = members, memberStates = states, head = tonumber(meta[3]), epoch = epoch, activity = tonumber(meta[4]) }
  local last = tonumber(meta[5]) or 0
  if last > 0 then
    local e = dmEntryAt(logKey, deletedKey, last)
    if e and e.type == 'message' then
      state.lastMessage = e.message
    end
  end
  return state
end
