/**
 * Reports how much of a video this viewer watched (`video:progress`): every few seconds while
 * it plays, and once more when it stops being the active card, so analytics get watch time and
 * completion (see docs/analytics.md). The server accepts one report per video every 2 s.
 */
import type { LiveClient } from '../../src/client/index.ts';

/**
 * Under 2 x PROGRESS_INTERVAL (4 s by default): a short report that no later one follows within
 * that window counts as a skip for the For You feed, so a playing video must report sooner.
 */
const EVERY_MS = 3000;

export class WatchReporter {
  #watchedMs = 0;
  #lastTime: number | undefined;
  #completed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastSent = 0;

  constructor(
    private readonly live: LiveClient,
    private readonly videoId: string,
    private readonly video: HTMLVideoElement,
  ) {
    video.addEventListener('timeupdate', () => this.#onTime());
  }

  start(): void {
    this.#lastTime = undefined;
    this.#timer ??= setInterval(() => this.#send(), EVERY_MS);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#send();
  }

  #onTime(): void {
    const t = this.video.currentTime;
    // a looped video jumps back to 0: that is a completed viewing, and watching goes on
    if (this.#lastTime !== undefined) {
      if (t >= this.#lastTime) this.#watchedMs += Math.round((t - this.#lastTime) * 1000);
      else this.#completed = true;
    }
    this.#lastTime = t;
  }

  #send(): void {
    const durationMs = Math.round((this.video.duration || 0) * 1000);
    if (durationMs < 1 || this.#watchedMs === 0 || Date.now() - this.#lastSent < 2100) return;
    this.#lastSent = Date.now();
    const positionMs = Math.min(durationMs, Math.round(this.video.currentTime * 1000));
    const completed = this.#completed || positionMs >= durationMs - 250;
    this.live.progress({ videoId: this.videoId, watchedMs: Math.min(this.#watchedMs, 86_400_000), positionMs, durationMs, completed }).catch(() => {
      // progress is best effort: a refused or lost report only makes analytics a little coarser
    });
  }
}
