--[[
  The read every event log shares (a video's events, a conversation's messages): the head and
  epoch in force, whether a read after `since` is complete (log-reaches), and the entries after
  it, oldest first, when it is.

  metaKey     v:{id}:meta or c:{id}:meta
  logKey      v:{id}:log or c:{id}:log (stream ids `<offset>-<idSeq>`)
  freshEpoch  the epoch to store if the log was lost (renew-epoch)
  since       the offset read after (number)
  limit       at most this many entries (0 reads none)
  idSeq       the sequence part of the log's stream ids (a video's 0, a conversation's 1)

  Returns nil when meta does not exist; otherwise head, epoch, complete, stream entries.
]]
--- @include "renew-epoch"
--- @include "log-reaches"
local function logAfter(metaKey, logKey, freshEpoch, since, limit, idSeq)
  local head, epoch = logHead(metaKey, logKey, freshEpoch)
  if not head then
    return nil
  end
  local complete = logReaches(logKey, head, since)
  local entries = {}
  if complete and limit > 0 then
    entries = redis.call('XRANGE', logKey, string.format('%d-%d', since + 1, idSeq), '+', 'COUNT', limit)
  end
  return head, epoch, complete, entries
end
