--[[
  Reads a conversation's log, with the same rules as the memory driver: after a seq (oldest
  first, `complete` when the log still reaches back to it) or before a seq (newest first, for
  history pages). Deleted messages come back as stubs.

  KEYS[1] c:{id}:meta
  KEYS[2] c:{id}:log
  KEYS[3] c:{id}:deleted

  ARGV[1] 'after' | 'before'
  ARGV[2] the seq (for 'before', 0 means from the head)
  ARGV[3] limit
  ARGV[4] a fresh epoch, stored only when the log was lost

  Returns -6 when the conversation does not exist; otherwise JSON {epoch, head, complete, events}.
]]
--- @include "renew-epoch"
--- @include "dm-entry"
--- @include "log-reaches"
local head, epoch = logHead(KEYS[1], KEYS[2], ARGV[4])
if not head then
  return -6
end
local seq = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local entries = {}
local complete = true
if ARGV[1] == 'after' then
  complete = logReaches(KEYS[2], head, seq)
  if complete and limit > 0 then
    entries = redis.call('XRANGE', KEYS[2], string.format('%d-1', seq + 1), '+', 'COUNT', limit)
  end
elseif limit > 0 then
  local from = seq > 0 and string.format('(%d-1', seq) or '+'
  entries = redis.call('XREVRANGE', KEYS[2], from, '-', 'COUNT', limit)
end
local events = {}
for i, se in ipairs(entries) do
  events[i] = dmDecode(se, KEYS[3])
end
return cjson.encode({ epoch = epoch, head = head, complete = complete, events = events })
