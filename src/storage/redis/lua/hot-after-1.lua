--[[
  Keyset page of the hot ranking: entries strictly below (score, id) in (score desc, id desc)
  order, with their scores. Ties with the boundary's score come first (ZREVRANGEBYSCORE
  orders equal scores by member, descending), then lower scores.

  KEYS[1] hot   zset video id -> hot score

  ARGV[1] boundary score (as Redis printed it)   ARGV[2] boundary id   ARGV[3] limit

  Returns a flat array id, score, id, score, ...
]]
local limit = tonumber(ARGV[3])
local out = {}
local ties = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'WITHSCORES')
for i = 1, #ties, 2 do
  if #out >= 2 * limit then break end
  if ties[i] < ARGV[2] then
    out[#out + 1] = ties[i]
    out[#out + 1] = ties[i + 1]
  end
end
local left = limit - #out / 2
if left > 0 then
  local lower = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '-inf', 'WITHSCORES', 'LIMIT', 0, left)
  for i = 1, #lower do out[#out + 1] = lower[i] end
end
return out
