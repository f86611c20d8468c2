/**
 * An InteractionEvent as a row of `interactions` (migrations/001-interactions.sql): the
 * properties every analytics query needs are columns; anything else (a property of an event
 * type added later) travels in `props` as JSON until a migration gives it a column.
 */
import type { InteractionEvent } from '../../protocol/interactions.ts';

export interface InteractionRow {
  id: string;
  v: number;
  type: string;
  at_ms: number;
  user_id: string;
  session_id: string;
  video_id: string;
  target_id: string;
  comment_id: string;
  watched_ms: number;
  position_ms: number;
  duration_ms: number;
  completed: number;
  feed: string;
  feed_position: number;
  job_id: string;
  stage: string;
  props: string;
}

/** Event property -> column, for the properties that have one. */
const COLUMNS: Record<string, keyof InteractionRow> = {
  id: 'id',
  v: 'v',
  type: 'type',
  at: 'at_ms',
  userId: 'user_id',
  sessionId: 'session_id',
  videoId: 'video_id',
  targetId: 'target_id',
  commentId: 'comment_id',
  watchedMs: 'watched_ms',
  positionMs: 'position_ms',
  durationMs: 'duration_ms',
  completed: 'completed',
  feed: 'feed',
  position: 'feed_position',
  jobId: 'job_id',
  stage: 'stage',
};

export function toRow(event: InteractionEvent): InteractionRow {
  const row: InteractionRow = {
    id: '',
    v: 0,
    type: '',
    at_ms: 0,
    user_id: '',
    session_id: '',
    video_id: '',
    target_id: '',
    comment_id: '',
    watched_ms: 0,
    position_ms: 0,
    duration_ms: 0,
    completed: 0,
    feed: '',
    feed_position: 0,
    job_id: '',
    stage: '',
    props: '',
  };
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    const column = COLUMNS[key];
    if (column === undefined) rest[key] = value;
    else (row as unknown as Record<string, unknown>)[column] = typeof value === 'boolean' ? Number(value) : value;
  }
  if (Object.keys(rest).length) row.props = JSON.stringify(rest);
  return row;
}
