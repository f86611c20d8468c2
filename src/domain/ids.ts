/**
 * TSID: 64-bit time-sorted ids. Layout, most significant first:
 *   41 bits  milliseconds since the configured epoch (about 69 years)
 *   10 bits  node id (NODE_ID, 0..1023), so processes never collide
 *   12 bits  sequence within one millisecond (4096 ids/ms per node)
 * (the top bit stays 0 so the value is a positive signed 64-bit integer).
 *
 * Ids travel as 13-character Crockford base32 strings; fixed width and an
 * alphabet in ASCII order make string order equal numeric order, so Redis
 * lexicographic ranges and plain string comparison sort by time.
 */
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DECODE = new Map([...ALPHABET].map((c, i) => [c, i]));
/** The digit of each ASCII code a TSID may hold (upper case, as isTsid), -1 otherwise: tsidDecimal's table. */
const DIGIT = new Int8Array(128).fill(-1);
[...ALPHABET].forEach((c, i) => (DIGIT[c.charCodeAt(0)] = i));
const LIMB = 1e7;
const NODE_BITS = 10n;
const SEQ_BITS = 12n;
const MAX_SEQ = (1 << Number(SEQ_BITS)) - 1;
const MAX_NODE = (1 << Number(NODE_BITS)) - 1;
const MAX_TIME = 2 ** 41 - 1;

/** 2024-01-01T00:00:00Z: the default epoch. */
export const DEFAULT_TSID_EPOCH = Date.UTC(2024, 0, 1);
export const TSID_LENGTH = 13;

export interface TsidOptions {
  nodeId: number;
  epoch?: number;
  clock?: Pick<Clock, 'now'>;
  /** Backward clock steps up to this many ms are waited out; larger ones throw. */
  maxBackwardMs?: number;
  /** How to wait for the clock; injected so tests don't sleep. Default: busy-wait. */
  waitUntil?: (ms: number) => void;
}

export class ClockMovedBackwardsError extends Error {
  constructor(readonly byMs: number) {
    super(`clock moved backwards by ${byMs} ms; refusing to issue ids that could repeat`);
    this.name = 'ClockMovedBackwardsError';
  }
}

/** Issues strictly increasing TSIDs for one node. Not shared across threads: give each its own node id. */
export class TsidGenerator {
  private readonly nodeBits: bigint;
  private readonly epoch: number;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly maxBackwardMs: number;
  private readonly waitUntil: (ms: number) => void;
  private readonly nodeNumber: number;
  private lastMs = -1;
  private seq = 0;
  private highValue = -1;
  private highText = '';

  constructor(opts: TsidOptions) {
    if (!Number.isInteger(opts.nodeId) || opts.nodeId < 0 || opts.nodeId > MAX_NODE) {
      throw new RangeError(`nodeId must be an integer from 0 to ${MAX_NODE}`);
    }
    this.nodeBits = BigInt(opts.nodeId) << SEQ_BITS;
    this.nodeNumber = opts.nodeId;
    this.epoch = opts.epoch ?? DEFAULT_TSID_EPOCH;
    this.clock = opts.clock ?? systemClock;
    this.maxBackwardMs = opts.maxBackwardMs ?? 1000;
    this.waitUntil =
      opts.waitUntil ??
      ((ms) => {
        while (this.clock.now() - this.epoch < ms) {
          /* spin: the wait is at most one millisecond or a small clock step */
        }
      });
  }

  /** The next id as a bigint. */
  nextBigInt(): bigint {
    const ms = this.advance();
    return (BigInt(ms) << (NODE_BITS + SEQ_BITS)) | this.nodeBits | BigInt(this.seq);
  }

  /** The next id as its 13-character string. */
  next(): string {
    const ms = this.advance();
    // The 65 encoded bits split into 40 high bits (ms >> 3: 8 characters, cached because
    // they change once every 8 ms) and 25 low bits (3 ms bits, node, sequence: 5 characters).
    // This avoids bigint arithmetic on the hot path.
    const high = Math.floor(ms / 8);
    if (high !== this.highValue) {
      this.highValue = high;
      this.highText = encodeNumber(high, 8);
    }
    const low = (ms % 8) * 4_194_304 + this.nodeNumber * 4096 + this.seq;
    return this.highText + encodeNumber(low, 5);
  }

  /** Moves the (ms, seq) pair forward, waiting out sequence overflow and small clock steps. */
  private advance(): number {
    let ms = this.clock.now() - this.epoch;
    if (ms < this.lastMs) {
      const behind = this.lastMs - ms;
      if (behind > this.maxBackwardMs) throw new ClockMovedBackwardsError(behind);
      this.waitUntil(this.lastMs);
      ms = Math.max(this.clock.now() - this.epoch, this.lastMs);
    }
    if (ms === this.lastMs) {
      if (this.seq >= MAX_SEQ) {
        // sequence exhausted for this millisecond: wait for the next one
        this.waitUntil(this.lastMs + 1);
        ms = Math.max(this.clock.now() - this.epoch, this.lastMs + 1);
        this.seq = 0;
      } else {
        this.seq++;
      }
    } else {
      this.seq = 0;
    }
    if (ms > MAX_TIME || ms < 0) throw new RangeError('clock is outside the TSID epoch range');
    this.lastMs = ms;
    return ms;
  }
}

function encodeNumber(value: number, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 32] + out;
    v = Math.floor(v / 32);
  }
  return out;
}

export function encodeTsid(value: bigint): string {
  let out = '';
  let v = value;
  for (let i = 0; i < TSID_LENGTH; i++) {
    out = ALPHABET[Number(v & 31n)] + out;
    v >>= 5n;
  }
  return out;
}

export function decodeTsid(text: string): bigint {
  if (text.length !== TSID_LENGTH) throw new RangeError('a TSID has 13 characters');
  let v = 0n;
  for (const ch of text.toUpperCase()) {
    const d = DECODE.get(ch);
    if (d === undefined) throw new RangeError(`invalid TSID character ${JSON.stringify(ch)}`);
    v = (v << 5n) | BigInt(d);
  }
  return v;
}

export function isTsid(text: unknown): text is string {
  return typeof text === 'string' && /^[0-9A-HJKMNP-TV-Z]{13}$/.test(text) && text[0]! <= '7';
}

/** Milliseconds since the Unix epoch at which the id was issued. */
export function tsidTime(text: string, epoch = DEFAULT_TSID_EPOCH): number {
  return Number(decodeTsid(text) >> (NODE_BITS + SEQ_BITS)) + epoch;
}

/**
 * A TSID's 64-bit value in decimal, or undefined when `text` is not a TSID (the rule of
 * `isTsid`). Every like converts one (storage/redis/likers.ts), so it is done without a bigint or a
 * regular expression: the base-32 digits are folded into three base-10^7 limbs (a 64-bit
 * value has at most 20 decimal digits), each step exact in doubles (< 32 * 10^7 + 32).
 */
export function tsidDecimal(text: string): string | undefined {
  if (text.length !== TSID_LENGTH) return undefined;
  let lo = 0;
  let mid = 0;
  let hi = 0;
  for (let i = 0; i < TSID_LENGTH; i++) {
    const code = text.charCodeAt(i);
    const d = code < 128 ? DIGIT[code]! : -1;
    // the top bit of the 65 encoded stays 0: the first digit is at most 7
    if (d < 0 || (i === 0 && d > 7)) return undefined;
    let x = lo * 32 + d;
    lo = x % LIMB;
    x = mid * 32 + Math.floor(x / LIMB);
    mid = x % LIMB;
    hi = hi * 32 + Math.floor(x / LIMB);
  }
  if (hi > 0) return `${hi}${String(mid).padStart(7, '0')}${String(lo).padStart(7, '0')}`;
  if (mid > 0) return `${mid}${String(lo).padStart(7, '0')}`;
  return String(lo);
}
