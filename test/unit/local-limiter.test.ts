/**
 * LocalLimiter, the synchronous per-process count behind the per-address and per-user request
 * limits: it must refuse exactly where rate-limiter-flexible's RateLimiterMemory (which it
 * replaces on the request path) refuses, with the time left in the key's window.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { LocalLimiter, MemoryRateLimitStore } from '../../src/storage/rate-limits.ts';
import { RateLimits, whenAdmitted } from '../../src/transport/http/rate-limits.ts';
import { TremoloError } from '../../src/protocol/errors.ts';

describe('LocalLimiter', () => {
  it('allows and refuses the same takes as RateLimiterMemory within a window', async () => {
    const theirs = new RateLimiterMemory({ points: 3, duration: 60 });
    const ours = new LocalLimiter(3, 60_000, Date.now);
    const keys = ['a', 'b', 'a', 'a', 'b', 'a', 'c', 'a', 'b', 'b', 'b'];
    const points = [1, 1, 1, 1, 2, 1, 4, 1, 1, 1, 1];
    for (const [i, key] of keys.entries()) {
      const refusedByThem = await theirs.consume(key, points[i]).then(
        () => false,
        (e: unknown) => e instanceof RateLimiterRes,
      );
      assert.equal(ours.take(key, points[i]) > 0, refusedByThem, `take ${i} (${key}, ${points[i]})`);
    }
  });

  it('refuses with the time left in the window, and counts afresh once it has ended', () => {
    let now = 1_000_000;
    const limiter = new LocalLimiter(2, 60_000, () => now);
    assert.equal(limiter.take('ip'), 0);
    now += 10_000;
    assert.equal(limiter.take('ip'), 0);
    assert.equal(limiter.take('ip'), 50_000);
    assert.equal(limiter.take('other'), 0, 'keys are counted apart');
    now += 50_000; // the window began at the first take
    assert.equal(limiter.take('ip'), 0);
    assert.equal(limiter.take('ip'), 0);
    assert.ok(limiter.take('ip') > 0);
  });

  it('forgets ended windows when many keys were counted, and still counts the live ones', () => {
    let now = 0;
    const limiter = new LocalLimiter(1, 1000, () => now);
    for (let i = 0; i < 10_000; i++) limiter.take(`old${i}`);
    now = 500;
    assert.equal(limiter.take('live'), 0);
    now = 1000; // every old window has ended, 'live' has not
    for (let i = 0; i < 5; i++) assert.equal(limiter.take(`new${i}`), 0); // the first of these sweeps
    assert.ok(limiter.take('live') > 0, 'a live key survives the sweep');
    assert.equal(limiter.take('old1'), 0, 'an ended key counts afresh');
  });
});

describe('RateLimits over counters kept in this process', () => {
  it('refuses the request over the limit with E_RATE_LIMITED and Retry-After, synchronously and as a promise', async () => {
    let now = 0;
    const limits = new RateLimits({ ipPerMin: 2, userPerMin: 1, loginPerMin: 10, counters: new MemoryRateLimitStore(() => now) });
    const admitted: (Error | undefined)[] = [];
    for (let i = 0; i < 3; i++) whenAdmitted(limits.admitIp('10.0.0.1'), (err) => admitted.push(err));
    assert.deepEqual(admitted.slice(0, 2), [undefined, undefined], 'answered at once');
    const refused = admitted[2];
    assert.ok(refused instanceof TremoloError && refused.code === 'E_RATE_LIMITED', String(refused));
    assert.equal(refused.retryAfter, 60);
    assert.equal(limits.admitUser('u1'), undefined);
    assert.equal((limits.admitUser('u1') as TremoloError).code, 'E_RATE_LIMITED');
    await assert.rejects(limits.consumeIp('10.0.0.1'), (e: unknown) => e instanceof TremoloError && e.code === 'E_RATE_LIMITED');
    now = 60_000;
    await limits.consumeIp('10.0.0.1');
    await limits.consumeUser('u1');
  });
});
