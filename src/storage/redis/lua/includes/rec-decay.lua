-- A stored interest weight `<weight>:<ms>` (or false when absent) decayed to `now`:
-- w * 2^(-(now - ms) / halfLife), the memory driver's domain/ranking.ts `decayed`.
local function rec_decayed(stored, now, half)
  if not stored then return 0 end
  local sep = string.find(stored, ':', 1, true)
  local w = tonumber(string.sub(stored, 1, sep - 1))
  local at = tonumber(string.sub(stored, sep + 1))
  local age = now - at
  if age < 0 then age = 0 end
  return w * math.pow(2, -age / half)
end
