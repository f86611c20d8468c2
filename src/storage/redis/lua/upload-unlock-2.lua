--[[
  Lets go of an upload's lock if `token` still holds it (a lapsed holder never frees a lock
  someone else took since).

  KEYS[1] upl:{id}:lock     string, the holder's token
  KEYS[2] upl:{id}:unlock   string, set while someone waits for the lock

  ARGV[1] token

  Returns 1 when released, 0 when the token held it no more.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
