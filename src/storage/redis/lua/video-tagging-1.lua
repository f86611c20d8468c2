--[[
  Replaces a video's tagging.

  KEYS[1] v:{id}:meta

  ARGV[1] the new tagging JSON

  Returns -1 when the video does not exist; otherwise the previous tagging JSON ('' when none),
  so the driver can move the video between tag indexes.
]]
local previous = redis.call('HMGET', KEYS[1], 'owner', 'tagging')
if not previous[1] then
  return -1
end
redis.call('HSET', KEYS[1], 'tagging', ARGV[1])
return previous[2] or ''
