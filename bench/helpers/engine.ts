/**
 * What the engine-level benchmarks share: an Engine over a given store with the settings'
 * limits (no sockets, no HTTP), and a driver that keeps a fixed number of calls in flight.
 */
import { Engine, type EngineDeps } from '../../src/actors/engine.ts';
import { FanoutSink } from '../../src/actors/events.ts';
import type { Config } from '../../src/config.ts';
import { systemClock } from '../../src/domain/clock.ts';
import type { TsidGenerator } from '../../src/domain/ids.ts';
import { engineLimits } from '../../src/main.ts';
import { LocalInvalidationBus } from '../../src/storage/cache/invalidation.ts';
import type { Store } from '../../src/storage/store.ts';

/** An Engine on `store` with `config`'s limits, a local sink and invalidation bus; `extra` overrides. */
export function benchEngine(store: Store, config: Config, ids: TsidGenerator, extra: Partial<EngineDeps> = {}): Engine {
  return new Engine({
    store,
    sink: new FanoutSink(),
    clock: systemClock,
    ids,
    invalidation: new LocalInvalidationBus(),
    onError: (err) => console.error(err),
    limits: engineLimits(config),
    ...extra,
  });
}

/** Runs `op` for i in [0, n) with `window` calls outstanding; resolves with the calls per second. */
export async function inWindow(n: number, window: number, op: (i: number) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  return n / ((performance.now() - start) / 1000);
}

/**
 * Runs `op` for i = 0, 1, ... with `window` calls outstanding, starting none after `seconds`;
 * resolves with the calls made and the seconds until the last of them answered.
 */
export async function forSeconds(seconds: number, window: number, op: (i: number) => Promise<unknown>): Promise<{ ops: number; seconds: number }> {
  const start = performance.now();
  const until = start + seconds * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < until) await op(next++);
  };
  await Promise.all(Array.from({ length: window }, worker));
  return { ops: next, seconds: (performance.now() - start) / 1000 };
}
