--[[
  One page of a video's comments, by comment id (a TSID suffix, so time order).

  KEYS[1] v:{id}:meta
  KEYS[2] v:{id}:comment-order
  KEYS[3] v:{id}:comments

  ARGV[1] 'newest' | 'oldest'
  ARGV[2] the lex bound to start from: '(' .. the last comment id of the previous page, or
          '+' (newest) / '-' (oldest) for the first page
  ARGV[3] how many to return

  Returns -1 when the video does not exist; otherwise { comment JSON... } in page order.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local ids
if ARGV[1] == 'newest' then
  ids = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[2], '-', 'LIMIT', 0, ARGV[3])
else
  ids = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[2], '+', 'LIMIT', 0, ARGV[3])
end
local out = {}
for i = 1, #ids, 1000 do -- unpack has a stack limit: HMGET in chunks
  local chunk = redis.call('HMGET', KEYS[3], unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #chunk do
    out[#out + 1] = chunk[j]
  end
end
return out
