/**
 * Seeded randomness for the load tester: the same seed gives the same users, videos
 * chosen, actions and timings (up to the server's own timing), whatever the number of
 * processes, because every virtual user draws from its own stream seeded by its index.
 */
import { seededRandom } from '../domain/ranking.ts';

/** mulberry32: a tiny, fast 32-bit PRNG; good enough to spread load, not for secrets (the one ranking uses). */
export const mulberry32: (seed: number) => () => number = seededRandom;

/** Mixes a run seed with a stream number so neighbouring streams are unrelated. */
export function streamSeed(seed: number, stream: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A random stream with the draws a scenario needs. */
export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Exponential with the given mean: the gap between events of a Poisson process. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
}

/**
 * Zipf popularity over `n` items: item k (0-based) is drawn with probability
 * proportional to 1 / (k + 1)^s. A cumulative table and a binary search make a
 * draw O(log n), which matters when every virtual user swipes every few seconds.
 */
export class Zipf {
  private readonly cdf: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`Zipf needs at least one item, got ${n}`);
    if (!(s >= 0)) throw new RangeError(`Zipf exponent must be >= 0, got ${s}`);
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) this.cdf[k] = sum += 1 / Math.pow(k + 1, s);
    for (let k = 0; k < n; k++) this.cdf[k] = (this.cdf[k] ?? 0) / sum;
  }

  /** An item index in [0, n). */
  sample(rng: Rng): number {
    const u = rng.float();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cdf[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Probability of item k (for reports and tests). */
  probability(k: number): number {
    return (this.cdf[k] ?? 0) - (k > 0 ? (this.cdf[k - 1] ?? 0) : 0);
  }
}
