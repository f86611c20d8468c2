--[[
  Extends an upload's lock while `token` holds it, and tells the holder whether another
  request is waiting for it.

  KEYS[1] upl:{id}:lock     string, the holder's token
  KEYS[2] upl:{id}:unlock   string, set while someone waits for the lock

  ARGV[1] token
  ARGV[2] lifetime of the lock (ms)

  Returns 1 when renewed, 2 when renewed and someone waits, 0 when the token holds it no more.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 2
end
return 1
