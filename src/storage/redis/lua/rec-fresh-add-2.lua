--[[
  Adds a video to the exploration pool with no impressions (once), then drops the oldest
  videos (lowest ids) past `poolMax`.

  KEYS[1] {rec}:fresh       zset video id -> impressions
  KEYS[2] {rec}:fresh-ids   zset video id, score 0

  ARGV[1] video id   ARGV[2] poolMax

  Returns 1.
]]
redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[1])
redis.call('ZADD', KEYS[2], 'NX', 0, ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[2])
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  for _, id in ipairs(oldest) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
  end
end
return 1
