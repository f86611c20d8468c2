/**
 * A circuit breaker (opossum) around every storage call. When storage is down or slow
 * the breaker opens: calls then fail at once with E_STORAGE_UNAVAILABLE instead of
 * each waiting for a timeout, reads fall back to cached data (marked degraded) and
 * writes answer 503. After `resetMs` one trial call goes through; success closes it.
 * Domain errors (not found, forbidden, ...) are answers, not failures: they never
 * count towards opening the breaker.
 */
import CircuitBreaker from 'opossum';
import { TremoloError } from '../protocol/errors.ts';
import type { Store } from './store.ts';
import { wrapStore } from './wrap.ts';

export interface GuardOptions {
  /** A call slower than this fails (and counts against the breaker). */
  timeoutMs: number;
  /** How long the breaker stays open before a trial call. */
  resetMs?: number;
  onStateChange?: (state: 'open' | 'halfOpen' | 'close') => void;
}

export type Breaker = CircuitBreaker<[() => Promise<unknown>], unknown>;

export function guardStore(store: Store, opts: GuardOptions): { store: Store; breaker: Breaker } {
  const breaker: Breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
    timeout: opts.timeoutMs,
    resetTimeout: opts.resetMs ?? 2000,
    errorThresholdPercentage: 50,
    volumeThreshold: 3,
    rollingCountTimeout: 5000,
    // Only counts decide (errorThresholdPercentage). With percentiles on, every call's latency
    // is kept for the window and each failure sorts them all: under overload, when calls time
    // out by the thousand, that sorting is what the process ends up doing.
    rollingPercentilesEnabled: false,
    errorFilter: (err: unknown) => err instanceof TremoloError && err.code !== 'E_STORAGE_UNAVAILABLE',
  });
  breaker.on('open', () => opts.onStateChange?.('open'));
  breaker.on('halfOpen', () => opts.onStateChange?.('halfOpen'));
  breaker.on('close', () => opts.onStateChange?.('close'));

  const fire = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return (await breaker.fire(call)) as T;
    } catch (err) {
      if (err instanceof TremoloError) throw err;
      // open breaker, timeout or a connection error
      throw new TremoloError('E_STORAGE_UNAVAILABLE', undefined, { cause: err, retryAfter: 1 });
    }
  };

  const guarded = wrapStore(store, (_op, method, target) => (...args) => fire(() => method.apply(target, args) as Promise<unknown>));
  return { store: guarded, breaker };
}
