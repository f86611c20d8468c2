-- Trims an `ix:` stream below `id` (through it when `through`), keeping its `extra` counter
-- (interaction-room) in step: the batched entries removed are read first (in pages) to
-- subtract their events beyond one each. Returns nothing.
--- @include "interaction-room"
local function trimInteractions(stream, extraKey, id, through)
  local removed = 0
  local from = '-'
  local to = through and id or ('(' .. id)
  while true do
    local page = redis.call('XRANGE', stream, from, to, 'COUNT', 1000)
    for _, entry in ipairs(page) do
      removed = removed + interactionEntryCount(entry[2]) - 1
    end
    if #page < 1000 then
      break
    end
    from = '(' .. page[#page][1]
  end
  redis.call('XTRIM', stream, 'MINID', id)
  if through then
    redis.call('XDEL', stream, id)
  end
  if redis.call('XLEN', stream) == 0 then
    redis.call('DEL', extraKey)
  elseif removed > 0 then
    if redis.call('DECRBY', extraKey, removed) < 0 then
      redis.call('SET', extraKey, 0)
    end
  end
end
