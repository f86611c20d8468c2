/**
 * Storage spans for a driver that has no scripts to trace: a client span around every Store
 * call, named after the operation (`videos.applyOps`, `jobs.claim`), with the attributes the
 * Redis driver's script spans carry (`db.system.name`, `db.operation.name`; never arguments,
 * keys or user text). One wrapper for every aggregate, as guard.ts does for the breaker, so a
 * method added to the Store is traced without touching this file.
 *
 * The Redis driver does not need it: each of its round trips is already an `EVALSHA <script>`
 * span (redis/scripts.ts), and a Store-level span above each would double the spans for
 * nothing new. main.ts wraps the memory driver only, and only with tracing on.
 */
import type { Tracing } from '../telemetry/tracing.ts';
import type { Store, StoreAggregates } from './store.ts';

/** Every aggregate of the Store: a Record, so an aggregate added to the Store and not here fails to compile. */
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

export function traceStore(store: Store, tracing: Tracing): Store {
  const system = store.driver;
  // A plain object of wrapped methods over each aggregate (its prototype, so anything else reads
  // through): no Proxy trap on every Store call, which a traced process pays at any ratio.
  const wrap = <T extends object>(aggregate: string, part: T): T => {
    const out = Object.create(part) as Record<string, unknown>;
    for (let o: object | null = part; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const name of Object.getOwnPropertyNames(o)) {
        if (name === 'constructor' || Object.hasOwn(out, name)) continue;
        const value = Object.getOwnPropertyDescriptor(o, name)?.value as unknown;
        if (typeof value === 'function') out[name] = traced(`${aggregate}.${name}`, value as (...a: unknown[]) => unknown, part);
      }
    }
    return out as T;
  };
  const traced =
    (op: string, method: (...a: unknown[]) => unknown, target: object) =>
    (...args: unknown[]): unknown => {
      // a storage span is a child or nothing, and only under a sampled span is it recorded
      const parent = tracing.current();
      if (parent === undefined || !tracing.sampled(parent)) return method.apply(target, args);
      const span = tracing.start(op, { kind: 'client', parent, attributes: { 'db.system.name': system, 'db.operation.name': op } });
      let result: unknown;
      try {
        result = tracing.run(span.context, () => method.apply(target, args));
      } catch (err) {
        span.fail(err);
        span.end();
        throw err;
      }
      if (!(result instanceof Promise)) {
        span.end();
        return result;
      }
      return result.then(
        (v: unknown) => {
          span.end();
          return v;
        },
        (err: unknown) => {
          span.fail(err);
          span.end();
          throw err;
        },
      );
    };
  const aggregates = Object.keys(AGGREGATES) as (keyof StoreAggregates)[];
  const parts = Object.fromEntries(aggregates.map((name) => [name, wrap(name, store[name])])) as unknown as StoreAggregates;
  return {
    ...parts,
    driver: store.driver,
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
