--[[
  Forgets a video of an upload and counts the ones left, in one step, so that of two
  concurrent removals exactly the last one sees none left.

  KEYS[1] up:{uid}:videos:<uploadId>   set of video ids

  ARGV[1] video id

  Returns the number of videos still showing the upload's media.
]]
redis.call('SREM', KEYS[1], ARGV[1])
return redis.call('SCARD', KEYS[1])
