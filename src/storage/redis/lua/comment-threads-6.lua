--[[
  One page of a video's top-level comments with their counts (CommentThreadStore.threads).

  KEYS[1] v:{id}:meta              hash (field `pinned`)
  KEYS[2] v:{id}:comments          hash: comment id -> JSON
  KEYS[3] v:{id}:threads           zset, score 0: `t:<id>`, `r:<threadId>:<id>`
  KEYS[4] v:{id}:comment-likes     zset, score 0: `<commentId>:<userId>`
  KEYS[5] v:{id}:comment-top       zset: top-level comment id -> `top` score
  KEYS[6] v:{id}:comment-top:<t>   list: the frozen `top` ranking this page reads

  ARGV[1] 'newest' | 'top'
  ARGV[2] newest: '' (first page) or the last comment id of the previous page;
          top: the offset in the frozen ranking
  ARGV[3] page size (newest: fetch this many, the caller asks one more to know if more exist)
  ARGV[4] the viewer's user id, or ''
  ARGV[5] '1' on the first page: lead with the pinned comment (and, for `top`, freeze the ranking)
  ARGV[6] how long a frozen ranking lives (ms)
  ARGV[7] the most comments one ranking holds

  Returns -1 when the video does not exist, -11 when the frozen ranking has expired; otherwise
  { pinnedView or 0, { view... }, more (0/1) } with views as include comment-view builds them.
]]
--- @include "comment-view"
local pinned = redis.call('HGET', KEYS[1], 'owner') and (redis.call('HGET', KEYS[1], 'pinned') or '')
if not pinned then
  return -1
end
local first = ARGV[5] == '1'
local limit = tonumber(ARGV[3])
local viewer = ARGV[4]
local ids = {}
local more = 0
if ARGV[1] == 'newest' then
  local max = ARGV[2] == '' and '(t;' or ('(t:' .. ARGV[2])
  local members = redis.call('ZREVRANGEBYLEX', KEYS[3], max, '[t:', 'LIMIT', 0, limit + 1)
  for _, m in ipairs(members) do
    local id = string.sub(m, 3)
    if id ~= pinned and #ids < limit then
      ids[#ids + 1] = id
    end
  end
else
  if first then
    local ranked = redis.call('ZRANGE', KEYS[5], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, tonumber(ARGV[7]) + 1)
    local kept = {}
    for _, id in ipairs(ranked) do
      if id ~= pinned and #kept < tonumber(ARGV[7]) then
        kept[#kept + 1] = id
      end
    end
    redis.call('DEL', KEYS[6])
    for i = 1, #kept, 1000 do -- unpack has a stack limit: RPUSH in chunks
      redis.call('RPUSH', KEYS[6], unpack(kept, i, math.min(i + 999, #kept)))
    end
    if #kept > 0 then
      redis.call('PEXPIRE', KEYS[6], ARGV[6])
    end
  elseif redis.call('EXISTS', KEYS[6]) == 0 then
    return -11
  end
  local offset = tonumber(ARGV[2])
  ids = redis.call('LRANGE', KEYS[6], offset, offset + limit - 1)
  if offset + limit < redis.call('LLEN', KEYS[6]) then
    more = 1
  end
end
local views = {}
for _, id in ipairs(ids) do
  -- a comment deleted since the ranking was frozen is left out
  views[#views + 1] = commentView(KEYS[2], KEYS[3], KEYS[4], id, viewer)
end
local lead = 0
if first and pinned ~= '' then
  lead = commentView(KEYS[2], KEYS[3], KEYS[4], pinned, viewer) or 0
end
return { lead, views, more }
