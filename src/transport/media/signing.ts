/**
 * Short-lived signed media URLs: `<path>?exp=<unix seconds>&sig=<base64url HMAC-SHA256>`,
 * the HMAC taken over `${path}\n${exp}` with MEDIA_SECRET. A URL is good for one path
 * until `exp` (plus a little clock skew); nothing else is needed to check it, so any
 * process holding the secret can serve it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';

export interface MediaSignerOptions {
  secret: string;
  /** Default lifetime of a signed URL (MEDIA_URL_TTL_S). */
  ttlS: number;
  /** Accepted lateness, for clocks that disagree a little. Default 30 s. */
  skewS?: number;
}

/**
 * Media paths are plain: `/`-separated segments of `[A-Za-z0-9._-]`, no `.`/`..` segments,
 * no percent-encoding (so `%2e%2e` and `%2f` never reach the file system decoded).
 */
const SAFE_PATH = /^(\/(?!\.{1,2}(\/|$))[A-Za-z0-9._-]+)+$/;
const SIG = /^[A-Za-z0-9_-]{43}$/;
const EXP = /^\d{1,12}$/;

export function isSafeMediaPath(path: string): boolean {
  return SAFE_PATH.test(path);
}

export class MediaSigner {
  readonly #secret: Buffer;
  readonly #ttlS: number;
  readonly #skewS: number;

  constructor(opts: MediaSignerOptions) {
    if (!opts.secret) throw new TypeError('secret must not be empty');
    if (!Number.isInteger(opts.ttlS) || opts.ttlS < 1) throw new RangeError('ttlS must be an integer >= 1');
    this.#secret = Buffer.from(opts.secret, 'utf8');
    this.#ttlS = opts.ttlS;
    this.#skewS = opts.skewS ?? 30;
  }

  /** `path?exp=..&sig=..` for an absolute URL path such as `/media/<videoId>/hls/master.m3u8`. */
  sign(path: string, opts: { ttlS?: number; now?: number } = {}): string {
    const exp = Math.floor((opts.now ?? Date.now()) / 1000) + (opts.ttlS ?? this.#ttlS);
    return this.signUntil(path, exp);
  }

  /** Signs with a given expiry (unix seconds), e.g. to hand out URLs no longer-lived than the one presented. */
  signUntil(path: string, exp: number): string {
    if (!isSafeMediaPath(path)) throw new TremoloError('E_VALIDATION', 'The media path is not allowed');
    return `${path}?exp=${exp}&sig=${this.#mac(path, String(exp))}`;
  }

  /**
   * Checks a presented URL; throws E_VALIDATION (unsafe path), E_SIGNATURE_INVALID
   * (malformed, tampered, or signed for another path) or E_SIGNATURE_EXPIRED. Returns `exp`.
   */
  verify(path: string, exp: string | undefined, sig: string | undefined, now: number = Date.now()): number {
    if (!isSafeMediaPath(path)) throw new TremoloError('E_VALIDATION', 'The media path is not allowed');
    if (exp === undefined || sig === undefined || !EXP.test(exp) || !SIG.test(sig)) throw new TremoloError('E_SIGNATURE_INVALID');
    const expected = Buffer.from(this.#mac(path, exp), 'base64url');
    const given = Buffer.from(sig, 'base64url');
    // Signature before expiry: a forged URL learns nothing about which expiries would pass.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TremoloError('E_SIGNATURE_INVALID');
    const expS = Number(exp);
    if (Math.floor(now / 1000) > expS + this.#skewS) throw new TremoloError('E_SIGNATURE_EXPIRED');
    return expS;
  }

  #mac(path: string, exp: string): string {
    return createHmac('sha256', this.#secret).update(`${path}\n${exp}`).digest('base64url');
  }
}
