/**
 * The fan-out queue in memory: the Redis stream's semantics in one process (entries in
 * queue order, a holder and the time it last reported per entry, a saved cursor), measured
 * on the injected clock's `now` that callers pass.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { FanoutClaim, FanoutLag, FanoutQueue, FanoutTask } from '../fanout.ts';

interface Entry {
  task: FanoutTask;
  cursor?: string;
  /** The consumer holding it; absent until first claimed. */
  holder?: string;
  /** When the holder last claimed or reported (ms); the lease runs from here. */
  touched: number;
}

/** The FanoutQueue of the memory driver. */
export class MemoryFanout implements FanoutQueue {
  /** By id, in queue order (Map keeps insertion order). */
  private readonly entries = new Map<string, Entry>();
  private seq = 0;

  async enqueue(task: FanoutTask, max: number): Promise<{ id: string; waiting: number }> {
    if (this.entries.size >= max) throw busy();
    // zero-padded so ids compare like the queue order, as Redis stream ids do
    const id = String(++this.seq).padStart(16, '0');
    this.entries.set(id, { task: { ...task }, touched: task.at });
    return { id, waiting: this.entries.size };
  }

  async claim(consumer: string, opts: { limit: number; leaseMs: number; now: number }): Promise<FanoutClaim[]> {
    const out: FanoutClaim[] = [];
    // lapsed leases first (a crashed holder's work is the oldest), then new entries
    for (const pass of ['lapsed', 'new'] as const) {
      for (const [id, e] of this.entries) {
        if (out.length >= opts.limit) return out;
        const take = pass === 'lapsed' ? e.holder !== undefined && opts.now - e.touched >= opts.leaseMs : e.holder === undefined;
        if (!take) continue;
        e.holder = consumer;
        e.touched = opts.now;
        out.push({ id, task: { ...e.task }, ...(e.cursor !== undefined ? { cursor: e.cursor } : {}), resumed: pass === 'lapsed' });
      }
    }
    return out;
  }

  async progress(id: string, consumer: string, cursor: string, opts: { now: number }): Promise<boolean> {
    const e = this.entries.get(id);
    if (!e || e.holder !== consumer) return false;
    e.cursor = cursor;
    e.touched = opts.now;
    return true;
  }

  async release(id: string, consumer: string, opts: { leaseMs: number; now: number }): Promise<boolean> {
    const e = this.entries.get(id);
    if (!e || e.holder !== consumer) return false;
    // lapsed at once: the next claim by anyone takes it over, cursor included
    e.touched = opts.now - opts.leaseMs;
    return true;
  }

  async complete(id: string): Promise<void> {
    this.entries.delete(id);
  }

  async lag(): Promise<FanoutLag> {
    const first = this.entries.values().next();
    return { waiting: this.entries.size, oldestAt: first.done ? null : first.value.task.at };
  }
}

function busy(): TremoloError {
  return new TremoloError('E_BUSY', 'Too many new posts are waiting to reach followers; retry shortly', { retryAfter: 1 });
}
