/**
 * The behaviour log in storage: streams of InteractionEvents, appended inside the same
 * atomic write as the state change each one records (videos.applyOps, users.applyOps), or
 * on their own for interactions that change no other state (watch progress, impressions).
 *
 * Bound (`InteractionLimits`): each stream holds at most `max` events.
 * - `hold` (a sink is configured): events wait until an exporter has delivered them and
 *   called `trim`; a write that would push a stream past `max` is refused as a whole with
 *   E_EXPORT_BACKLOG (503, Retry-After), so nothing acknowledged is ever dropped.
 * - ring (no sink): nobody waits for the events, so the oldest go, as in the video event log;
 *   they stay readable for live consumers (`read`).
 */
import type { InteractionEvent, InteractionPage } from '../protocol/interactions.ts';

export interface InteractionLimits {
  /** Events per stream (EXPORT_MAX_LAG). */
  max: number;
  /** True when an exporter delivers and trims the streams. */
  hold: boolean;
}

export const DEFAULT_INTERACTION_LIMITS: InteractionLimits = { max: 100_000, hold: false };

export type { InteractionPage };

export interface InteractionLog {
  /**
   * Appends events that change no other state (watch progress, impressions), atomically per
   * video, after checking that each event's video exists (E_VIDEO_NOT_FOUND otherwise, and
   * nothing of the call is written). E_EXPORT_BACKLOG when a stream is full in hold mode.
   */
  record(events: readonly InteractionEvent[]): Promise<void>;
  /**
   * Events after `position` (null: the oldest kept), at most `limit`, oldest first within each
   * stream; the page's position reads on from there, or is passed to `trim`.
   */
  read(position: string | null, limit: number): Promise<InteractionPage>;
  /** Removes every event up to and including `position` (a sink acknowledged them). */
  trim(position: string): Promise<void>;
  /** Events kept in all streams together, and in the fullest one. */
  lag(): Promise<{ total: number; fullest: number }>;
}
