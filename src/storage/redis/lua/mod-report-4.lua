--[[
  Files a report, once per reporter and target while it is open.

  KEYS[1] {mod}:reports       zset of open report ids, score 0
  KEYS[2] {mod}:report-data   hash: report id -> report JSON
  KEYS[3] {mod}:report-dedup  hash: `<reporterId>|<target>` -> open report id
  KEYS[4] {mod}:target:<t>    set of open report ids on the target

  ARGV[1] report id   ARGV[2] dedup field   ARGV[3] report JSON   ARGV[4] most open reports

  Returns the first report's JSON for a duplicate, 'ok' when filed, -9 when too many are open.
]]
local first = redis.call('HGET', KEYS[3], ARGV[2])
if first then
  local json = redis.call('HGET', KEYS[2], first)
  if json then
    return json
  end
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return -9
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return 'ok'
