--[[
  One page of a thread's replies, oldest first, with their counts (CommentThreadStore.replies).

  KEYS[1] v:{id}:meta
  KEYS[2] v:{id}:comments          hash: comment id -> JSON
  KEYS[3] v:{id}:comment-info      hash: comment id -> `<createdMs>` | `<createdMs>:<threadId>`
  KEYS[4] v:{id}:threads           zset, score 0: `t:<id>`, `r:<threadId>:<id>`
  KEYS[5] v:{id}:comment-likes     zset, score 0: `<commentId>:<userId>`

  ARGV[1] the thread (a top-level comment id)
  ARGV[2] the last reply id of the previous page, or ''
  ARGV[3] how many to return
  ARGV[4] the viewer's user id, or ''

  Returns -1 when the video does not exist, -3 when the thread is not a top-level comment of
  it; otherwise { view... } (see include comment-view).
]]
--- @include "comment-view"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local thread = ARGV[1]
local info = redis.call('HGET', KEYS[3], thread) or ''
if redis.call('HEXISTS', KEYS[2], thread) == 0 or string.find(info, ':', 1, true) then
  return -3
end
local min = ARGV[2] == '' and ('[r:' .. thread .. ':') or ('(r:' .. thread .. ':' .. ARGV[2])
local members = redis.call('ZRANGEBYLEX', KEYS[4], min, '(r:' .. thread .. ';', 'LIMIT', 0, ARGV[3])
local views = {}
local skip = #thread + 4
for _, m in ipairs(members) do
  views[#views + 1] = commentView(KEYS[2], KEYS[4], KEYS[5], string.sub(m, skip), ARGV[4])
end
return views
