/**
 * Plays a video's renditions: HLS through hls.js where the browser has Media Source
 * Extensions, natively where it has not but plays HLS itself (older iOS), the MP4 otherwise.
 * Media URLs are signed and expire, so a failure first asks the server for fresh ones.
 */
import Hls from 'hls.js';
import type { MediaRefs } from '../../src/client/index.ts';

export type Source = { kind: 'native-hls' | 'hls.js' | 'mp4' | 'external'; url: string };

/** The best source this browser can play, or undefined for a video still being processed. */
export function pickSource(media: MediaRefs, video: HTMLVideoElement): Source | undefined {
  // hls.js first where Media Source Extensions exist: the same adaptive logic in every browser
  // (recent Chrome also plays HLS natively, with its own); native HLS where MSE is missing (older iOS)
  if (media.hls && Hls.isSupported()) return { kind: 'hls.js', url: media.hls };
  if (media.hls && video.canPlayType('application/vnd.apple.mpegurl')) return { kind: 'native-hls', url: media.hls };
  if (media.mp4) return { kind: 'mp4', url: media.mp4 };
  if (media.external) return { kind: 'external', url: media.external };
  return undefined;
}

export class Player {
  #hls: Hls | undefined;
  #refreshed = false;
  source: Source | undefined;

  constructor(
    readonly video: HTMLVideoElement,
    /** Fresh media refs (new signatures) for a video whose URLs stopped working. */
    private readonly refresh: () => Promise<MediaRefs | undefined>,
  ) {
    video.muted = true; // browsers only autoplay muted video
    video.loop = true;
    video.playsInline = true;
    video.preload = 'metadata';
    video.addEventListener('error', () => void this.#recover());
  }

  load(media: MediaRefs): void {
    this.#detach();
    if (media.poster) this.video.poster = media.poster;
    this.source = pickSource(media, this.video);
    this.video.dataset.source = this.source?.kind ?? 'none';
    if (!this.source) return;
    if (this.source.kind === 'hls.js') {
      const hls = new Hls({ maxBufferLength: 10 });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) void this.#recover();
      });
      hls.loadSource(this.source.url);
      hls.attachMedia(this.video);
      this.#hls = hls;
    } else {
      this.video.src = this.source.url;
    }
  }

  play(): void {
    this.video.play().catch(() => {}); // refused autoplay or no source yet: the poster stays
  }

  pause(): void {
    this.video.pause();
  }

  destroy(): void {
    this.#detach();
    this.video.removeAttribute('src');
    this.video.load();
  }

  async #recover(): Promise<void> {
    if (this.#refreshed) return; // once: a second failure is not about expiry
    this.#refreshed = true;
    const media = await this.refresh().catch(() => undefined);
    if (media) {
      const playing = !this.video.paused;
      this.load(media);
      if (playing) this.play();
    }
  }

  #detach(): void {
    this.#hls?.destroy();
    this.#hls = undefined;
  }
}
