/**
 * Hot scores are derived data (domain/feed-policy.ts): a video's score changes only when its
 * counters do, and a hot video's counters change many times a second. Changes are gathered
 * and written once per interval on the injected Clock, the newest counters of each video in
 * one write, rather than one write per actor turn.
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import { hotScore } from '../domain/feed-policy.ts';
import type { Counters, VideoRecord } from '../protocol/model.ts';
import type { FeedStore } from '../storage/store.ts';

export interface HotScoreDeps {
  feeds: Pick<FeedStore, 'setHotScore'>;
  clock: Clock;
  /** How long changes are gathered before they are written. Default 1 s. */
  intervalMs?: number;
  onError: (err: unknown, context: string) => void;
}

export class HotScores {
  private readonly pending = new Map<string, { createdAtMs: number; counters: Counters }>();
  private timer: TimerHandle | undefined;
  /** Settles when every batch begun so far has been written (or failed). */
  private writing: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: HotScoreDeps) {}

  /** Writes a new video's score at once: it is in the hot feed from its first moment. */
  async created(video: VideoRecord, counters: Counters): Promise<void> {
    await this.deps.feeds.setHotScore(video.id, hotScore(counters, Date.parse(video.createdAt)));
  }

  /** A video's counters changed: its score is written with the next batch. */
  changed(video: VideoRecord, counters: Counters): void {
    this.pending.set(video.id, { createdAtMs: Date.parse(video.createdAt), counters });
    if (this.timer) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => this.deps.onError(err, 'hot score update'));
    }, this.deps.intervalMs ?? 1000);
    this.timer.unref?.();
  }

  /** A deleted video leaves the hot feed; a change still waiting for its batch is dropped, so it does not come back. */
  async removed(videoId: string): Promise<void> {
    this.pending.delete(videoId);
    // after a batch being written, which may hold this video's last score
    await this.writing;
    await this.deps.feeds.setHotScore(videoId, null);
  }

  /** Writes every pending score now (shutdown, tests). */
  async flush(): Promise<void> {
    const due = [...this.pending];
    this.pending.clear();
    const batch = Promise.all(due.map(([id, { createdAtMs, counters }]) => this.deps.feeds.setHotScore(id, hotScore(counters, createdAtMs))));
    this.writing = Promise.allSettled([this.writing, batch]);
    await batch;
  }

  /** Cancels the timer and writes what is pending. */
  async close(): Promise<void> {
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
