/**
 * Skips in the first seconds, derived from watch events.
 *
 * One early progress report cannot tell a skip from a video that is still playing: a client
 * reports every few seconds, so its first report often says "1.5 s watched, not completed".
 * What tells them apart is what follows: a video still playing sends another report within
 * about one PROGRESS_INTERVAL (the most often the server accepts one). So a short, unfinished
 * report starts a check on the injected Clock; if no later report of the same viewer and video
 * arrived within the window, and the viewer neither liked nor finished the video, the check
 * records one `skip`. A later report cancels it (and, when it is still short, starts a new one).
 *
 * Pending checks live in this process only (the report and its follow-ups reach the process
 * that holds the viewer's socket; a REST client that spreads reports over processes at worst
 * gets one skip too many, which the next like or finish outweighs). They are bounded: above
 * `pendingMax` the oldest is dropped, and counted, never recorded.
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import type { Subject } from '../storage/store.ts';

export interface EarlySkipOptions {
  /** An unfinished report with less than this many ms watched may be a skip; 0 turns detection off. */
  skipMs: number;
  /** How long to wait for a later report of the same viewer and video (2 x PROGRESS_INTERVAL). */
  windowMs: number;
  /** Pending checks kept at once; above it the oldest is dropped. */
  pendingMax: number;
}

/** FORYOU_SKIP_MS and FORYOU_SKIP_PENDING_MAX as config.ts defaults them. */
export const DEFAULT_EARLY_SKIPS: Omit<EarlySkipOptions, 'windowMs'> = { skipMs: 3000, pendingMax: 10_000 };

/** How a check ended (the `outcome` label of `tremolo_foryou_skip_checks_total`). */
export type SkipCheckOutcome = 'recorded' | 'cancelled' | 'engaged' | 'dropped';

export interface EarlySkipDeps {
  clock: Clock;
  options: EarlySkipOptions;
  /** Whether the viewer liked or finished the video (then a short report was no skip). */
  engaged: (subject: Subject, videoId: string) => Promise<boolean>;
  /** Records the skip signal (the For You feed's recordSignal). */
  skip: (subject: Subject, videoId: string) => Promise<void>;
  onError: (err: unknown, context: string) => void;
  /** Told how each check ended (metrics, tests). */
  onOutcome?: (outcome: SkipCheckOutcome) => void;
}

/** What a check needs of a watch report. */
export interface WatchReport {
  videoId: string;
  watchedMs: number;
  completed: boolean;
}

interface Pending {
  subject: Subject;
  videoId: string;
  timer: TimerHandle;
}

export class EarlySkips {
  /** `${subject}|${videoId}` -> its check, oldest first (a Map keeps insertion order). */
  private readonly pending = new Map<string, Pending>();
  /** Checks whose timer fired and whose lookups are still running (close() waits for them). */
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly deps: EarlySkipDeps) {}

  /** Pending checks (metrics, tests). */
  get size(): number {
    return this.pending.size;
  }

  /** A recorded watch report of `subject`: cancels its pending check of the video, and may start one. */
  observe(subject: Subject, report: WatchReport): void {
    const { options, clock } = this.deps;
    if (options.skipMs <= 0) return;
    const key = `${subject}|${report.videoId}`;
    if (this.pending.has(key)) this.end(key, 'cancelled');
    if (report.completed || report.watchedMs >= options.skipMs) return;
    while (this.pending.size >= options.pendingMax) {
      const oldest = this.pending.keys().next().value as string;
      this.end(oldest, 'dropped');
    }
    const timer = clock.setTimeout(() => this.fire(key), options.windowMs);
    // a pending check never keeps a process alive on its own
    timer.unref?.();
    this.pending.set(key, { subject, videoId: report.videoId, timer });
  }

  /** The viewer liked (or otherwise engaged with) the video in this process: no skip. */
  cancel(subject: Subject, videoId: string): void {
    // every like passes here: most find nothing pending, and need no key built to know it
    if (this.pending.size === 0) return;
    const key = `${subject}|${videoId}`;
    if (this.pending.has(key)) this.end(key, 'engaged');
  }

  /** Drops every pending check (shutdown) and waits for checks already deciding. */
  async close(): Promise<void> {
    for (const key of [...this.pending.keys()]) {
      this.deps.clock.clearTimeout(this.pending.get(key)!.timer);
      this.pending.delete(key);
    }
    await Promise.all(this.running);
  }

  private end(key: string, outcome: SkipCheckOutcome): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.deps.clock.clearTimeout(p.timer);
    this.pending.delete(key);
    this.deps.onOutcome?.(outcome);
  }

  private fire(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const run = this.decide(p).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async decide({ subject, videoId }: Pending): Promise<void> {
    try {
      if (await this.deps.engaged(subject, videoId)) {
        this.deps.onOutcome?.('engaged');
        return;
      }
      await this.deps.skip(subject, videoId);
      this.deps.onOutcome?.('recorded');
    } catch (err) {
      this.deps.onError(err, `For You skip check of ${videoId}`);
    }
  }
}
