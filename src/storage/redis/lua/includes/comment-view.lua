-- One comment as thread listings show it: { json, likes, replies, likedByMe (1, 0, or -1 with
-- no viewer) }, or nil when the comment is gone. `comments`, `threads` and `likes` are the
-- video's comments hash, thread index and comment-likes keys.
local function commentView(comments, threads, likes, id, viewer)
  local json = redis.call('HGET', comments, id)
  if not json then
    return nil
  end
  local count = redis.call('ZLEXCOUNT', likes, '[' .. id .. ':', '(' .. id .. ';')
  local replies = redis.call('ZLEXCOUNT', threads, '[r:' .. id .. ':', '(r:' .. id .. ';')
  local mine = -1
  if viewer ~= '' then
    mine = redis.call('ZSCORE', likes, id .. ':' .. viewer) and 1 or 0
  end
  return { json, count, replies, mine }
end
