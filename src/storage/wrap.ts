/**
 * A Store whose every aggregate method goes through one wrapper: the circuit breaker
 * (guard.ts) and storage spans (traced.ts) are both this. The wrapped methods are made once,
 * on a plain object per aggregate, so a call pays no Proxy trap and no closure of its own: the
 * breaker wraps every storage call of a deployed process. A method added to the Store is
 * wrapped without touching this file; an aggregate added to the Store and not to AGGREGATES
 * fails to compile.
 *
 * The plain object holds the wrapped methods only, and does not have the aggregate as its
 * prototype: V8 turns an object that becomes a prototype into a dictionary (slow properties),
 * and every field the aggregate's own methods read (`this.tables`, `this.ctx`) then took the
 * slow path, on every call of every request (docs/benchmarks.md, "tracing", session 35).
 */
import type { Store, StoreAggregates } from './store.ts';

const AGGREGATES: Record<keyof StoreAggregates, true> = {
  users: true,
  videos: true,
  feeds: true,
  fanout: true,
  recommendations: true,
  jobs: true,
  uploads: true,
  conversations: true,
  interactions: true,
  notifications: true,
  blocks: true,
  moderation: true,
  comments: true,
  favorites: true,
};

/** Every aggregate of a Store, by name. */
export const STORE_AGGREGATES = Object.freeze(Object.keys(AGGREGATES) as (keyof StoreAggregates)[]);

export type Method = (...args: unknown[]) => unknown;

/**
 * `around(operation, method, target)` returns what a call of `operation` (`videos.applyOps`)
 * runs instead; `method.apply(target, args)` is the call itself. `ping` and `close` pass
 * through unwrapped (the readiness probe must see the real state).
 */
export function wrapStore(store: Store, around: (operation: string, method: Method, target: object) => Method): Store {
  const wrap = <T extends object>(aggregate: string, part: T): T => {
    const out: Record<string, unknown> = {};
    for (let o: object | null = part; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const name of Object.getOwnPropertyNames(o)) {
        if (name === 'constructor' || Object.hasOwn(out, name)) continue;
        const value = Object.getOwnPropertyDescriptor(o, name)?.value as unknown;
        if (typeof value === 'function') out[name] = around(`${aggregate}.${name}`, value as Method, part);
      }
    }
    return out as T;
  };
  const parts = Object.fromEntries(STORE_AGGREGATES.map((name) => [name, wrap(name, store[name])])) as unknown as StoreAggregates;
  return {
    ...parts,
    driver: store.driver,
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
