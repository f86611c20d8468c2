/**
 * The tus lock shared by processes on Redis (media/upload-locker.ts), with real processes
 * (test/helpers/upload-lock-holder.ts) holding it: a waiter asks the holder to let go and gets
 * the lock as soon as it does; a holder that ignores the request keeps it while alive, and
 * once it is SIGKILLed its lock lapses after its lifetime and the waiter takes it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { ERRORS } from '@tus/server';
import { StorageUploadLocker } from '../../src/media/upload-locker.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually } from '../helpers/eventually.ts';

const HOLDER = new URL('../helpers/upload-lock-holder.ts', import.meta.url).pathname;

describe('upload lock across processes', () => {
  const prefix = randomPrefix('uplock');
  let store: RedisStore;
  const children: ChildProcess[] = [];

  before(async () => {
    store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: 20, viewDedupS: 60 }, timeoutMs: 5000 });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await store.close();
    const redis = await connectRedis();
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  /** Starts a holder process and waits until it holds the lock; `output()` is what it printed. */
  async function holder(uploadId: string, ttlMs: number, mode: 'yield' | 'stall'): Promise<{ child: ChildProcess; output: () => string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', HOLDER, REDIS_URL, prefix, uploadId, String(ttlMs), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('locked') || child.exitCode !== null, 'the holder to take the lock', 60_000);
    assert.ok(out.includes('locked'), out);
    return { child, output: () => out };
  }

  const released = (): (() => void) => () => {};

  test('a waiter in another process asks the holder to let go and gets the lock when it does', async () => {
    const id = `u1-${prefix}`;
    const h = await holder(id, 3000, 'yield');
    const locker = new StorageUploadLocker({ locks: store.uploads, ttlMs: 3000, onError: (err) => assert.fail(String(err)) });
    const lock = locker.newLock(id);
    await lock.lock(new AbortController().signal, released());
    assert.ok(h.output().includes('released'), 'the holder let go because it was asked to');
    await lock.unlock();
    h.child.kill('SIGKILL');
  });

  test("a stalled holder keeps the lock while alive; once it crashes its lock lapses and the waiter takes it", async () => {
    const id = `u2-${prefix}`;
    const h = await holder(id, 1500, 'stall');
    // while the holder lives and renews, a short wait gives up with tus's lock timeout
    const impatient = new StorageUploadLocker({ locks: store.uploads, ttlMs: 1500, acquireTimeoutMs: 2000, onError: () => {} });
    await assert.rejects(impatient.newLock(id).lock(new AbortController().signal, released()), (err) => err === ERRORS.ERR_LOCK_TIMEOUT);
    h.child.kill('SIGKILL');
    await once(h.child, 'exit');
    const patient = new StorageUploadLocker({ locks: store.uploads, ttlMs: 1500, acquireTimeoutMs: 30_000, onError: () => {} });
    const lock = patient.newLock(id);
    await lock.lock(new AbortController().signal, released());
    // ours now: a second taker is refused until we let go
    assert.equal(await store.uploads.lock(id, 'someone-else', 1500), false);
    await lock.unlock();
    assert.equal(await store.uploads.lock(id, 'someone-else', 1500), true);
  });
});
