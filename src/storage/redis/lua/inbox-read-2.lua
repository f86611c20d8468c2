--[[
  Marks one inbox entry read, or all of them.

  KEYS[1] u:{id}:notes   KEYS[2] u:{id}:notes:unread
  ARGV[1] the entry id, or '' for every entry

  Returns { found (1 | 0), unread }.
]]
if ARGV[1] == '' then
  redis.call('DEL', KEYS[2])
  return { 1, 0 }
end
redis.call('SREM', KEYS[2], ARGV[1])
local found = redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
return { found, redis.call('SCARD', KEYS[2]) }
