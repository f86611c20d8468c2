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
 *
 * Export (`deliver`/`ack`): one consumer group over every stream (on Redis, a stream consumer
 * group: XREADGROUP, XACK, XPENDING + XCLAIM). Each event is delivered to one consumer at a time
 * and stays pending until acknowledged; a consumer's delivery left unacknowledged longer than
 * `claimIdleMs` (a dead exporter's batch) is handed to the next OTHER consumer that asks: a
 * consumer's own pending events are in its batch or on their way, and handing them to it again
 * would put them in a second batch while the first is written. An event
 * is trimmed only once the group acknowledged it and nothing older is pending, so several
 * exporters share the streams without double work and a killed one loses nothing.
 */
import type { InteractionEvent, InteractionPage } from '../protocol/interactions.ts';

/**
 * Most events in one entry of the log, any writer's: the format's ceiling, which readers size
 * their reads by (a delivery passes its limit by less than this many events per stream). In
 * hold mode the events of one write (an actor turn, a follow batch, one video's recorded
 * events) are kept as entries of at most `entryEvents` (<= this; one XADD each on Redis
 * instead of one per event); the export group delivers and acknowledges whole entries.
 * (On Redis: INTERACTION_ENTRY_MAX in lua/includes/interaction-room.lua.)
 */
export const INTERACTION_ENTRY_MAX = 64;

export interface InteractionLimits {
  /** Events per stream (EXPORT_MAX_LAG). */
  max: number;
  /** True when an exporter delivers and trims the streams. */
  hold: boolean;
  /**
   * Most events this process writes in one entry in hold mode (EXPORT_ENTRY_EVENTS), 1 to
   * INTERACTION_ENTRY_MAX. 1 writes one-event entries only, the format of releases before
   * batched entries, which their readers (and their acknowledgement script) take: the setting
   * of a rolling upgrade while such processes still run.
   */
  entryEvents: number;
}

export const DEFAULT_INTERACTION_LIMITS: InteractionLimits = { max: 100_000, hold: false, entryEvents: INTERACTION_ENTRY_MAX };

/** Throws a RangeError for limits no store takes (a driver checks them when it is built). */
export function checkInteractionLimits(limits: InteractionLimits): void {
  const n = limits.entryEvents;
  if (!Number.isInteger(n) || n < 1 || n > INTERACTION_ENTRY_MAX) throw new RangeError(`interactions.entryEvents must be an integer from 1 to ${INTERACTION_ENTRY_MAX}`);
}

export type { InteractionPage };

/** Events handed to one consumer of the export group; pending until `ack(receipt)`. */
export interface InteractionDelivery {
  events: InteractionEvent[];
  /** Opaque: what `ack` needs to acknowledge exactly these events. */
  receipt: string;
}

export interface DeliverOptions {
  /**
   * When set, events pending (delivered, unacknowledged) for at least this long at any
   * consumer are taken over first: a dead consumer's batch. Unset: only new events.
   */
  claimIdleMs?: number;
  /** Now (ms), for drivers that keep the group's clock themselves (memory). */
  now: number;
}

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
  /**
   * Removes every event up to and including `position` (a sink acknowledged them); an entry
   * the position ends in the middle of stays until a later position reaches its end.
   */
  trim(position: string): Promise<void>;
  /**
   * Up to `limit` events for `consumer` of the export group (events taken over from idle
   * consumers first, with `claimIdleMs`, then never-delivered ones, oldest first per stream).
   * Entries go whole (INTERACTION_ENTRY_MAX): the last one may take a delivery past `limit`
   * by fewer than INTERACTION_ENTRY_MAX events per stream.
   */
  deliver(consumer: string, limit: number, opts: DeliverOptions): Promise<InteractionDelivery>;
  /**
   * Acknowledges a delivery (every sink has it), then trims each stream below its oldest
   * event still pending (or through the last delivered when none is). Acknowledging twice, or
   * events another consumer took over meanwhile, is harmless.
   */
  ack(receipt: string): Promise<void>;
  /** Events (not entries) kept in all streams together, and in the fullest one. */
  lag(): Promise<{ total: number; fullest: number }>;
}
