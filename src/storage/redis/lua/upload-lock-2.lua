--[[
  Takes an upload's lock unless another token holds it (tus: one request at a time per
  upload, whichever process it reached). The taker's own request to release is cleared.

  KEYS[1] upl:{id}:lock     string, the holder's token (expires with the lock)
  KEYS[2] upl:{id}:unlock   string, set while someone waits for the lock

  ARGV[1] token
  ARGV[2] lifetime of the lock (ms)

  Returns 1 when taken (or held by this token already: its lifetime starts again), 0 when held by another.
]]
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
