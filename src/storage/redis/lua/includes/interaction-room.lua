-- The behaviour log's entries and bound (storage/interactions.ts, redis/interactions.ts).
--
-- An entry of an `ix:` stream is either ONE event (`e` <event JSON>: every writer before
-- batching, ring mode, and the scripts that write one event at a time) or a BATCH of the
-- events of one write (`e` <event JSON>,<event JSON>,... `n` <count>, at most the writer's
-- EXPORT_ENTRY_EVENTS, itself at most INTERACTION_ENTRY_MAX, the ceiling readers size their
-- reads by: the items of a JSON array without its brackets). Readers take both; a writer
-- with EXPORT_ENTRY_EVENTS 1 writes only one-event entries and never adds to the counter, so
-- readers and trims from before batching (a rolling upgrade) still work beside it.
-- The `extra` counter (KEYS beside the stream, same slot) holds how many events the stream
-- keeps beyond one per entry (the sum of n - 1 over its batched entries), so
-- XLEN + extra is the number of EVENTS kept, which is what EXPORT_MAX_LAG bounds. Writers
-- add to it; trimming (interaction-trim) subtracts what it removes.
--
-- In hold mode (an exporter trims the stream) a write that would push the stream past `max`
-- events is refused before anything is written; in ring mode each event is its own entry
-- and the oldest go (XADD MAXLEN), as before batching.
local INTERACTION_ENTRY_MAX = 64

-- events kept in `stream` (a counter left over from a stream deleted meanwhile reads as 0)
local function interactionCount(stream, extraKey)
  local len = redis.call('XLEN', stream)
  if len == 0 then
    return 0
  end
  return len + (tonumber(redis.call('GET', extraKey)) or 0)
end

local function interactionRoom(stream, extraKey, n, max, hold)
  if hold == '1' and interactionCount(stream, extraKey) + n > tonumber(max) then
    return false
  end
  return true
end

-- one event, one entry (the format every reader has always taken)
local function recordInteraction(stream, json, max, hold)
  if hold == '1' then
    redis.call('XADD', stream, '*', 'e', json)
  else
    redis.call('XADD', stream, 'MAXLEN', max, '*', 'e', json)
  end
end

-- the events of one write (a list of JSONs), after interactionRoom: in hold mode as batched
-- entries of at most `entryMax` events (EXPORT_ENTRY_EVENTS, <= INTERACTION_ENTRY_MAX; one
-- XADD per entry instead of per event), in ring mode one entry each (MAXLEN then still
-- counts events). With `entryMax` 1 each event is its own entry, exactly as
-- recordInteraction writes it, and the counter is never added to.
local function recordInteractions(stream, extraKey, jsons, max, hold, entryMax)
  local count = #jsons
  if count == 0 then
    return
  end
  if hold ~= '1' then
    for i = 1, count do
      redis.call('XADD', stream, 'MAXLEN', max, '*', 'e', jsons[i])
    end
    return
  end
  local size = tonumber(entryMax)
  if redis.call('XLEN', stream) == 0 then
    -- a counter outliving its entries (a stream deleted or emptied meanwhile) must not count again
    redis.call('DEL', extraKey)
  end
  for first = 1, count, size do
    local last = math.min(count, first + size - 1)
    if last == first then
      redis.call('XADD', stream, '*', 'e', jsons[first])
    else
      redis.call('XADD', stream, '*', 'e', table.concat(jsons, ',', first, last), 'n', last - first + 1)
    end
  end
  -- one entry per `size` events (rounded up) is counted by XLEN
  local entries = math.floor((count + size - 1) / size)
  if count > entries then
    redis.call('INCRBY', extraKey, count - entries)
  end
end

-- how many events an entry's fields hold (1: a one-event entry)
local function interactionEntryCount(fields)
  if fields[3] == 'n' then
    return tonumber(fields[4])
  end
  return 1
end

-- An export delivery in the making (interaction-deliver, interaction-claim), packed for the
-- driver: the entry ids as one space-separated string and the events as the items of one JSON
-- array (an entry's `e` is one event's JSON, or a batch already joined by commas), so a batch of
-- thousands is two strings to read instead of an array per entry. Entries are taken whole, so
-- `left` may end below 0 by less than INTERACTION_ENTRY_MAX.
local function interactionDelivery(limit)
  return { ids = {}, events = {}, limit = limit, left = limit }
end

local function interactionTake(delivery, entry)
  delivery.ids[#delivery.ids + 1] = entry[1]
  delivery.events[#delivery.events + 1] = entry[2][2]
  delivery.left = delivery.left - interactionEntryCount(entry[2])
end

-- { ids, 'event,event,...', count }, or '' and 0 when none: the array's brackets are added by the
-- driver, here they would copy the whole text once more
local function interactionPacked(delivery)
  if #delivery.ids == 0 then
    return { '', '', 0 }
  end
  return { table.concat(delivery.ids, ' '), table.concat(delivery.events, ','), delivery.limit - delivery.left }
end
