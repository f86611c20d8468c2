--[[
  Closes every open report on one target.

  KEYS[1] {mod}:reports   KEYS[2] {mod}:report-data   KEYS[3] {mod}:report-dedup
  KEYS[4] {mod}:target:<t>
  ARGV[1] the target (`video:<id>`, ...), as in dedup fields

  Returns how many reports were closed.
]]
local ids = redis.call('SMEMBERS', KEYS[4])
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[2], id)
  if json then
    redis.call('HDEL', KEYS[3], cjson.decode(json).reporterId .. '|' .. ARGV[1])
  end
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
redis.call('DEL', KEYS[4])
return #ids
