--[[
  A page of one user's inbox, newest update first.

  KEYS[1] u:{id}:notes   KEYS[2] u:{id}:notes:data   KEYS[3] u:{id}:notes:unread

  ARGV[1] exclusive upper bound of the update sequence ('+inf' for the first page)
  ARGV[2] most entries

  Returns { unread, entry JSON, notification JSON, 1 | 0 (unread), ... }.
]]
local out = { redis.call('SCARD', KEYS[3]) }
for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, tonumber(ARGV[2]))) do
  local fields = redis.call('HMGET', KEYS[2], id, id .. ':n')
  if fields[1] then
    out[#out + 1] = fields[1]
    out[#out + 1] = fields[2]
    out[#out + 1] = redis.call('SISMEMBER', KEYS[3], id)
  end
end
return out
