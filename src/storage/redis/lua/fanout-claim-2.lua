--[[
  Claims up to `count` fan-out entries for a consumer: first entries whose holder has not
  reported for `lease` ms (XAUTOCLAIM), then new ones (XREADGROUP), each with its saved cursor.

  KEYS[1] {fanout}:queue     stream of fan-out entries (v, a, at, tp, ts); consumer group ARGV[1]
  KEYS[2] {fanout}:cursors   hash: entry id -> follower cursor reached

  ARGV[1] consumer group name
  ARGV[2] consumer (this process)
  ARGV[3] lease (ms)
  ARGV[4] count

  Consumers (processes) that hold nothing and were last seen more than ten leases ago are
  dropped from the group, so restarts do not pile up dead names.

  Returns a flat array, eight items per entry: id, video id, author id, at, cursor ('' when
  none), 1 when taken over from another holder or 0 when new, traceparent and tracestate ('' when
  none).
]]
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local count = tonumber(ARGV[4])
local out = {}
local n = 0
local function add(entry, resumed)
  local id = entry[1]
  local f = {}
  local fields = entry[2]
  for i = 1, #fields, 2 do
    f[fields[i]] = fields[i + 1]
  end
  local cursor = redis.call('HGET', KEYS[2], id) or ''
  out[#out + 1] = id
  out[#out + 1] = f['v'] or ''
  out[#out + 1] = f['a'] or ''
  out[#out + 1] = f['at'] or '0'
  out[#out + 1] = cursor
  out[#out + 1] = resumed
  out[#out + 1] = f['tp'] or ''
  out[#out + 1] = f['ts'] or ''
  n = n + 1
end
local lapsed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', count)
for _, entry in ipairs(lapsed[2]) do
  -- an entry trimmed away under its holder comes back without fields: drop it
  if type(entry) == 'table' and entry[2] then
    add(entry, 1)
  end
end
-- entries deleted while pending (Redis 7 lists them third) are gone from the group already
if lapsed[3] then
  for _, id in ipairs(lapsed[3]) do
    redis.call('HDEL', KEYS[2], id)
  end
end
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do
    info[c[i]] = c[i + 1]
  end
  if info['pending'] == 0 and info['idle'] > 10 * tonumber(ARGV[3]) and info['name'] ~= ARGV[2] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
  end
end
if n < count then
  local fresh = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count - n, 'STREAMS', KEYS[1], '>')
  if fresh then
    for _, entry in ipairs(fresh[1][2]) do
      add(entry, 0)
    end
  end
end
return out
