--[[
  Reads a video's events after an offset, with the same `complete` rule as the memory
  driver: the log must still reach back to `since` and `since` must not be ahead of it.

  KEYS[1] v:{id}:meta
  KEYS[2] v:{id}:log

  ARGV[1] since: return events with offset > since (an integer; -1 never completes)
  ARGV[2] limit: at most this many events (0 returns none)
  ARGV[3] a fresh epoch, stored only when the log was lost
          (no stream although events were appended since the epoch began)

  Returns -1 when the video does not exist; otherwise
    { epoch, head, complete (1|0), { {streamId, {'e', eventJson}}... } }
]]
--- @include "log-after"
local head, epoch, complete, entries = logAfter(KEYS[1], KEYS[2], ARGV[3], tonumber(ARGV[1]), tonumber(ARGV[2]), 0)
if not head then
  return -1
end
return { epoch, head, complete and 1 or 0, entries }
