-- The behaviour log: one row per interaction event (src/protocol/interactions.ts).
-- ReplacingMergeTree over a sorting key that contains the event id: a batch the exporter
-- delivers twice (at-least-once) collapses to one row in merges, and reads use FINAL, so
-- every event counts exactly once. `at` and `date` are computed from `at_ms` on insert
-- (18.16 fills omitted JSONEachRow fields with zeros, not with DEFAULT expressions).
CREATE TABLE IF NOT EXISTS {db}.interactions (
  id String,
  v UInt8,
  type String,
  at_ms UInt64,
  at DateTime MATERIALIZED toDateTime(intDiv(at_ms, 1000)),
  date Date MATERIALIZED toDate(toDateTime(intDiv(at_ms, 1000))),
  user_id String,
  session_id String,
  video_id String,
  target_id String,
  comment_id String,
  watched_ms UInt32,
  position_ms UInt32,
  duration_ms UInt32,
  completed UInt8,
  feed String,
  feed_position UInt16,
  job_id String,
  stage String,
  props String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(date)
ORDER BY (video_id, at, id)
