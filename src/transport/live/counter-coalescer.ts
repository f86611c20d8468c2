/**
 * Coalesces counter updates per video: at most one emission per interval, always with
 * the newest values (by version), however many likes arrive. The interval grows with
 * the room's size so this process stays within its delivery budget: each of the
 * rooms active in the last couple of seconds gets an equal share of
 * `budgetPerSec` messages, so a room of n watchers waits n * activeRooms / budget
 * seconds between emissions (never less than `baseIntervalMs`).
 */
import type { Clock, TimerHandle } from '../../domain/clock.ts';
import type { CounterPayload } from '../../protocol/live.ts';
import type { TraceContext } from '../../telemetry/tracing.ts';

/** Writes whose trace an emission links to, at most (the rest are counted, not linked). */
export const MAX_COALESCED_LINKS = 32;

/** What one emission stands for: the writes it coalesced (tracing on). */
export interface Coalesced {
  /** Trace positions of the first MAX_COALESCED_LINKS writes offered since the last emission. */
  links: TraceContext[];
  /** How many writes were offered since the last emission. */
  count: number;
  /** The first write's trace position, linked or not: the emission's parent when none linked is (parent-based). */
  first?: TraceContext;
}

/** What can be coalesced: a payload for one video's room, ordered by a number that only grows. */
export interface Coalescible {
  videoId: string;
}

export interface CoalescerOptions<P extends Coalescible = CounterPayload> {
  clock: Clock;
  baseIntervalMs: number;
  budgetPerSec: number;
  roomSize: (videoId: string) => number;
  emit: (payload: P, coalesced: Coalesced) => void;
  /** What is coalesced together (default: the video). Comment counters: one key per comment. */
  keyOf?: (payload: P) => string;
  /** Which of two payloads is newer (default: `version`). */
  rank?: (payload: P) => number;
}

interface Entry<P> {
  latest: P | undefined;
  coalesced: Coalesced;
  lastEmit: number;
  lastOffer: number;
  timer: TimerHandle | undefined;
}

const ACTIVE_WINDOW_MS = 2000;

export class CounterCoalescer<P extends Coalescible = CounterPayload> {
  private readonly entries = new Map<string, Entry<P>>();
  private readonly keyOf: (payload: P) => string;
  private readonly rank: (payload: P) => number;

  constructor(private readonly opts: CoalescerOptions<P>) {
    this.keyOf = opts.keyOf ?? ((p) => p.videoId);
    this.rank = opts.rank ?? ((p) => (p as unknown as { version: number }).version);
  }

  /**
   * `trace`: the write's trace position, linked from the emission that carries it (or supersedes
   * it) when `linked` (an unsampled write has no span to link to, and would only take a place).
   */
  offer(payload: P, trace?: TraceContext, linked = true): void {
    const now = this.opts.clock.now();
    const key = this.keyOf(payload);
    let e = this.entries.get(key);
    if (!e) {
      e = { latest: undefined, lastEmit: -Infinity, lastOffer: now, timer: undefined, coalesced: { links: [], count: 0 } };
      this.entries.set(key, e);
      if (this.entries.size % 1024 === 0) this.forgetQuiet(now);
    }
    e.lastOffer = now;
    e.coalesced.count++;
    if (trace) {
      e.coalesced.first ??= trace;
      if (linked && e.coalesced.links.length < MAX_COALESCED_LINKS) e.coalesced.links.push(trace);
    }
    if (e.latest && this.rank(e.latest) >= this.rank(payload)) return; // older or same: drop
    e.latest = payload;
    if (e.timer) return;
    const wait = e.lastEmit + this.intervalFor(payload.videoId) - now;
    if (wait <= 0) this.flush(e);
    else {
      const entry = e;
      e.timer = this.opts.clock.setTimeout(() => {
        entry.timer = undefined;
        this.flush(entry);
      }, wait);
      e.timer.unref?.();
    }
  }

  /** The current interval for a video's room, in ms. */
  intervalFor(videoId: string): number {
    const now = this.opts.clock.now();
    let active = 0;
    for (const e of this.entries.values()) if (now - e.lastOffer <= ACTIVE_WINDOW_MS) active++;
    const share = this.opts.budgetPerSec / Math.max(1, active);
    return Math.max(this.opts.baseIntervalMs, (1000 * this.opts.roomSize(videoId)) / share);
  }

  /** The newest counters seen for a video (what the next emission would carry). */
  latest(key: string): P | undefined {
    return this.entries.get(key)?.latest;
  }

  close(): void {
    for (const e of this.entries.values()) if (e.timer) this.opts.clock.clearTimeout(e.timer);
    this.entries.clear();
  }

  /** Emits the newest payload; `latest` stays so a late, older payload is still dropped. */
  private flush(e: Entry<P>): void {
    if (!e.latest) return;
    e.lastEmit = this.opts.clock.now();
    const coalesced = e.coalesced;
    e.coalesced = { links: [], count: 0 };
    this.opts.emit(e.latest, coalesced);
  }

  private forgetQuiet(now: number): void {
    for (const [id, e] of this.entries) if (!e.timer && now - e.lastOffer > 10 * ACTIVE_WINDOW_MS) this.entries.delete(id);
  }
}
