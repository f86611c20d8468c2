--[[
  Records that a video shows media made from an upload, only while the upload holds its
  reservation (so a video published after the upload was released is refused, not counted
  against nothing).

  KEYS[1] up:{uid}                     hash, upload id -> reserved bytes
  KEYS[2] up:{uid}:videos:<uploadId>   set of video ids

  ARGV[1] upload id
  ARGV[2] video id

  Returns 1 when recorded (or recorded already), 0 when the upload holds no reservation.
]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SADD', KEYS[2], ARGV[2])
return 1
