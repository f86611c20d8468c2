--[[
  One conversation's state (ConversationState).

  KEYS[1] c:{id}:meta
  KEYS[2] c:{id}:members
  KEYS[3] c:{id}:log
  KEYS[4] c:{id}:deleted

  ARGV[1] a fresh epoch, stored only when the log was lost

  Returns '' when the conversation does not exist, else the state as JSON.
]]
--- @include "renew-epoch"
--- @include "dm-entry"
local head, epoch = logHead(KEYS[1], KEYS[3], ARGV[1])
if not head then
  return ''
end
return cjson.encode(dmState(KEYS[1], KEYS[2], KEYS[3], KEYS[4], epoch))
