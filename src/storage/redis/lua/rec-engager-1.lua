--[[
  Makes a subject the newest engager of a video (once), keeping the newest `max`.

  KEYS[1] v:{vid}:engagers   list of subjects, newest first

  ARGV[1] subject   ARGV[2] max

  Returns 1.
]]
redis.call('LREM', KEYS[1], 0, ARGV[1])
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
