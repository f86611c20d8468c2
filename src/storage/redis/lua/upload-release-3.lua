--[[
  Gives an upload's reserved bytes back, unless a video still shows media made from it.

  KEYS[1] up:{uid}                     hash, upload id -> reserved bytes
  KEYS[2] up:{uid}:used                string, the sum of KEYS[1]'s values
  KEYS[3] up:{uid}:videos:<uploadId>   set of video ids

  ARGV[1] upload id

  Returns 'released', 'held' (a video shows its media: nothing changed) or 'absent'
  (the upload holds no reservation).
]]
if redis.call('SCARD', KEYS[3]) > 0 then
  return 'held'
end
local bytes = redis.call('HGET', KEYS[1], ARGV[1])
if not bytes then
  return 'absent'
end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('DECRBY', KEYS[2], bytes) <= 0 then
  redis.call('DEL', KEYS[2])
end
return 'released'
