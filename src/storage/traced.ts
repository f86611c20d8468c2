/**
 * Storage spans for a driver that has no scripts to trace: a client span around every Store
 * call, named after the operation (`videos.applyOps`, `jobs.claim`), with the attributes the
 * Redis driver's script spans carry (`db.system.name`, `db.operation.name`; never arguments,
 * keys or user text). Every aggregate's methods, through wrap.ts as guard.ts's breaker.
 *
 * The Redis driver does not need it: each of its round trips is already an `EVALSHA <script>`
 * span (redis/scripts.ts), and a Store-level span above each would double the spans for
 * nothing new. main.ts wraps the memory driver only, and only with tracing on.
 */
import { endWith, type Tracing } from '../telemetry/tracing.ts';
import type { Store } from './store.ts';
import { wrapStore, type Method } from './wrap.ts';

export function traceStore(store: Store, tracing: Tracing): Store {
  const system = store.driver;
  return wrapStore(store, (op: string, method: Method, target: object): Method => (...args) => {
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
    // the caller gets the call's own promise, and no microtask hop more than untraced (endWith)
    if (result instanceof Promise) endWith(span, result);
    else span.end();
    return result;
  });
}
