/**
 * The behaviour log in memory: one in-process stream with the Redis streams' bound
 * semantics (storage/interactions.ts). Positions are sequence numbers: `m<seq>` is the
 * sequence of the last event read. The export group is kept beside it as Redis keeps a
 * consumer group: the last sequence delivered, and the pending ones with their consumer and
 * delivery time; a receipt is `r<seq>,<seq>,...`.
 *
 * As on Redis (lua/includes/interaction-room.lua), the events of one write form entries of
 * at most `entryEvents` in hold mode (one each in ring mode), and the export group delivers
 * whole entries: a delivery stops at the first entry end at or past its limit.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { InteractionEvent } from '../../protocol/interactions.ts';
import type { DeliverOptions, InteractionDelivery, InteractionLimits, InteractionLog, InteractionPage } from '../interactions.ts';
import { copy, type MemoryTables } from './tables.ts';

/** The in-process stream every aggregate appends to (held by MemoryTables). */
export class MemoryInteractionStream {
  private events: InteractionEvent[] = [];
  /** Parallel to events: true where an entry ends (the export group hands out whole entries). */
  private ends: boolean[] = [];
  /** Sequence number of events[0]; sequences start at 1. */
  private first = 1;

  constructor(private readonly limits: InteractionLimits) {}

  get length(): number {
    return this.events.length;
  }

  /** Throws E_EXPORT_BACKLOG, before anything is written, when `n` more events would not fit in hold mode. */
  reserve(n: number): void {
    if (this.limits.hold && this.events.length + n > this.limits.max) throw backlogFull();
  }

  /** One event as its own entry. */
  append(event: InteractionEvent): void {
    this.appendWrite([event]);
  }

  /** The events of one write, after `reserve`: entries of at most `entryEvents` in hold mode, one each as a ring. */
  appendWrite(events: readonly InteractionEvent[]): void {
    const size = this.limits.hold ? this.limits.entryEvents : 1;
    events.forEach((event, i) => {
      this.events.push(copy(event));
      this.ends.push(i === events.length - 1 || (i + 1) % size === 0);
    });
    if (!this.limits.hold && this.events.length > this.limits.max) this.drop(this.events.length - this.limits.max);
  }

  private drop(n: number): void {
    this.events.splice(0, n);
    this.ends.splice(0, n);
    this.first += n;
  }

  /** Whether `seq` is the last event of its entry (an event already gone counts as one). */
  private endsEntry(seq: number): boolean {
    return this.ends[seq - this.first] ?? true;
  }

  /** Events with sequence > `after`, at most `limit`, and the sequence of the last one returned. */
  after(after: number, limit: number): { events: InteractionEvent[]; last: number } {
    const from = Math.max(0, after + 1 - this.first);
    const events = this.events.slice(from, from + Math.max(0, limit));
    return { events: copy(events), last: events.length ? this.first + from + events.length - 1 : Math.max(after, this.first - 1) };
  }

  /** Last sequence delivered to the export group (0: none). */
  private delivered = 0;
  /** Delivered, unacknowledged: sequence -> consumer and when it got it. Insertion order is not sequence order after a takeover. */
  private readonly pending = new Map<number, { consumer: string; since: number }>();

  /** The export group's delivery (storage/interactions.ts `deliver`): sequences and events. */
  deliver(consumer: string, limit: number, opts: { claimIdleMs?: number; now: number }): { seqs: number[]; events: InteractionEvent[] } {
    const seqs: number[] = [];
    const events: InteractionEvent[] = [];
    const max = Math.max(0, Math.trunc(limit));
    if (opts.claimIdleMs !== undefined) {
      let atEnd = true;
      for (const [seq, p] of [...this.pending].sort((a, b) => a[0] - b[0])) {
        if (seqs.length >= max && atEnd) break;
        // never a consumer's own: those are in its batch or being written (redis/lua/interaction-claim)
        if (p.consumer === consumer || opts.now - p.since < opts.claimIdleMs) continue;
        const event = this.events[seq - this.first];
        if (!event) {
          this.pending.delete(seq); // dropped meanwhile (ring mode): nothing to deliver
          continue;
        }
        this.pending.set(seq, { consumer, since: opts.now });
        seqs.push(seq);
        events.push(copy(event));
        atEnd = this.endsEntry(seq);
      }
    }
    // whole entries: past the limit only to the end of the entry begun
    const within = (seq: number) => seqs.length < max || (seq > this.first && !this.endsEntry(seq - 1));
    for (let seq = Math.max(this.delivered + 1, this.first); within(seq) && seq < this.first + this.events.length; seq++) {
      this.pending.set(seq, { consumer, since: opts.now });
      this.delivered = seq;
      seqs.push(seq);
      events.push(copy(this.events[seq - this.first]!));
    }
    return { seqs, events };
  }

  /** Acknowledges sequences, then drops what the group no longer needs (below the oldest pending). */
  ack(seqs: readonly number[]): void {
    for (const seq of seqs) this.pending.delete(seq);
    let oldest = this.delivered + 1;
    for (const seq of this.pending.keys()) oldest = Math.min(oldest, seq);
    this.trim(oldest - 1);
  }

  /** Drops the entries that end at or before sequence `upTo` (an entry `upTo` ends in the middle of stays, as on Redis). */
  trim(upTo: number): void {
    while (upTo >= this.first && !this.endsEntry(upTo)) upTo--;
    this.drop(Math.min(this.events.length, Math.max(0, upTo + 1 - this.first)));
  }
}

export function backlogFull(): TremoloError {
  return new TremoloError('E_EXPORT_BACKLOG', undefined, { retryAfter: 5 });
}

/** The InteractionLog of the memory driver. */
export class MemoryInteractions implements InteractionLog {
  constructor(private readonly tables: MemoryTables) {}

  async record(events: readonly InteractionEvent[]): Promise<void> {
    const stream = this.tables.interactions;
    for (const e of events) {
      if (!('videoId' in e) || e.videoId === undefined || !this.tables.videos.has(e.videoId)) throw new TremoloError('E_VIDEO_NOT_FOUND');
    }
    stream.reserve(events.length);
    // one write per video, as the Redis driver's one script per video
    const byVideo = new Map<string, InteractionEvent[]>();
    for (const e of events) {
      const videoId = (e as { videoId: string }).videoId;
      byVideo.set(videoId, [...(byVideo.get(videoId) ?? []), e]);
    }
    for (const write of byVideo.values()) stream.appendWrite(write);
  }

  async read(position: string | null, limit: number): Promise<InteractionPage> {
    const after = position === null ? 0 : decodePosition(position);
    const { events, last } = this.tables.interactions.after(after, limit);
    return { events, position: `m${last}` };
  }

  async trim(position: string): Promise<void> {
    this.tables.interactions.trim(decodePosition(position));
  }

  async deliver(consumer: string, limit: number, opts: DeliverOptions): Promise<InteractionDelivery> {
    const { seqs, events } = this.tables.interactions.deliver(consumer, limit, opts);
    return { events, receipt: `r${seqs.join(',')}` };
  }

  async ack(receipt: string): Promise<void> {
    const m = /^r((?:\d{1,15})(?:,\d{1,15})*)?$/.exec(receipt);
    if (!m) throw new TremoloError('E_BAD_CURSOR', 'The export receipt is malformed');
    this.tables.interactions.ack(m[1] ? m[1].split(',').map(Number) : []);
  }

  async lag(): Promise<{ total: number; fullest: number }> {
    const n = this.tables.interactions.length;
    return { total: n, fullest: n };
  }
}

function decodePosition(position: string): number {
  const m = /^m(\d{1,15})$/.exec(position);
  if (!m) throw new TremoloError('E_BAD_CURSOR', 'The interaction position is malformed');
  return Number(m[1]);
}
