--[[
  One page of a user's id set (followers or following), ascending by id.

  KEYS[1] u:{id}
  KEYS[2] u:{id}:followers | u:{id}:following

  ARGV[1] the lex bound to start from: '(' .. the last id of the previous page, or '-'
  ARGV[2] how many to return

  Returns -2 when the user does not exist; otherwise { id... }.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -2
end
return redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, ARGV[2])
