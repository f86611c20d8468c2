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
--- @include "dm-entry"
--- @include "log-after"
local after = ARGV[1] == 'after'
local seq = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
-- a 'before' read takes only the head and epoch from here (a limit of 0 reads nothing)
local head, epoch, complete, entries = logAfter(KEYS[1], KEYS[2], ARGV[4], seq, after and limit or 0, 1)
if not head then
  return -6
end
if not after then
  complete = true
  if limit > 0 then
    entries = redis.call('XREVRANGE', KEYS[2], seq > 0 and string.format('(%d-1', seq) or '+', '-', 'COUNT', limit)
  end
end
local events = {}
for i, se in ipairs(entries) do
  events[i] = dmDecode(se, KEYS[3])
end
return cjson.encode({ epoch = epoch, head = head, complete = complete, events = events })
