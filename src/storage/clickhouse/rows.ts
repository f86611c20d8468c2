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

/**
 * The columns an event has a value for (JSONEachRow): a column left out is stored as its type's
 * zero ('' or 0), exactly what an absent property means, on 18.16 (which fills omitted fields
 * with zeros) as on later servers (no column here has a DEFAULT expression). A view is then 6
 * fields to encode, send and parse instead of 18, for every row the exporter writes.
 */
export type InteractionInsertRow = Pick<InteractionRow, 'id' | 'v' | 'type' | 'at_ms'> & Partial<InteractionRow>;

export function toRow(event: InteractionEvent): InteractionInsertRow {
  const row: Record<string, unknown> = {};
  let rest: Record<string, unknown> | undefined;
  for (const key in event) {
    const value = (event as unknown as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const column = COLUMNS[key];
    if (column === undefined) (rest ??= {})[key] = value;
    else row[column] = typeof value === 'boolean' ? Number(value) : value;
  }
  if (rest) row.props = JSON.stringify(rest);
  return row as InteractionInsertRow;
}
