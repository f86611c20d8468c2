/**
 * Presentation of a video's media: stored (relative) paths become freshly signed
 * `/media/*` URLs in every video response; media hosted elsewhere (absolute URLs) is
 * shown as is.
 */
import type { MediaRefs, Video } from '../../protocol/model.ts';
import { mediaUrlPath } from './routes.ts';
import type { MediaSigner } from './signing.ts';

export interface MediaPresenterOptions {
  signer: MediaSigner;
  /** PUBLIC_URL: signed URLs are absolute under it; relative to this server without it. */
  publicUrl?: string;
  onError: (err: unknown, context: string) => void;
}

/** Stored (relative) media paths -> signed URLs; external media as is. */
export function mediaPresenter(opts: MediaPresenterOptions): (video: Video) => Video {
  const { signer, onError } = opts;
  const base = opts.publicUrl ? opts.publicUrl.replace(/\/+$/, '') : '';
  const isAbsolute = (p: string): boolean => /^([a-z][a-z0-9+.-]*:|\/)/i.test(p);
  return (video) => {
    const m = video.media;
    if (m.hls === undefined && m.mp4 === undefined && m.poster === undefined) return video;
    const out: MediaRefs = { ...m };
    for (const key of ['hls', 'mp4', 'poster'] as const) {
      const p = m[key];
      if (p === undefined || isAbsolute(p)) continue;
      try {
        out[key] = base + signer.sign(mediaUrlPath(p));
      } catch (err) {
        delete out[key]; // a path we would refuse to serve is better left out than served broken
        onError(err, `media path of video ${video.id}`);
      }
    }
    return { ...video, media: out };
  };
}
