/**
 * wrapStore (src/storage/wrap.ts), under the breaker and storage spans: every aggregate method
 * goes through the wrapper to the aggregate, and wrapping leaves the aggregates as V8 had them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { STORE_AGGREGATES, wrapStore } from '../../src/storage/wrap.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };

// V8's own answer, through its natives syntax: set before the function below is compiled
setFlagsFromString('--allow-natives-syntax');
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;

describe('wrapStore', () => {
  it('runs every call through the wrapper, named by aggregate and method, and answers with the aggregate', async () => {
    const store = new MemoryStore(LIMITS);
    const calls: string[] = [];
    const wrapped = wrapStore(store, (op, method, target) => (...args) => {
      calls.push(op);
      return method.apply(target, args);
    });
    const user = { id: '1', handle: 'wrapped', displayName: 'Wrapped', bio: '', createdAt: new Date(0).toISOString(), passwordHash: 'x' };
    await wrapped.users.create(user);
    assert.deepEqual(await wrapped.users.get(user.id), user);
    assert.deepEqual(calls, ['users.create', 'users.get']);
    assert.equal(wrapped.driver, 'memory');
  });

  it('leaves every aggregate with fast properties: a prototype of the wrapper, V8 would make it a dictionary', () => {
    const store = new MemoryStore(LIMITS);
    const around = (_op: string, method: (...args: unknown[]) => unknown, target: object) => (...args: unknown[]) => method.apply(target, args);
    for (const name of STORE_AGGREGATES) assert.ok(hasFastProperties(store[name]), `${name} before wrapping`);
    const wrapped = wrapStore(wrapStore(store, around), around);
    for (const name of STORE_AGGREGATES) {
      assert.ok(hasFastProperties(store[name]), `${name} after wrapping`);
      assert.notEqual(Object.getPrototypeOf(wrapped[name]), store[name]);
    }
  });
});
