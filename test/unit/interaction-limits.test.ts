import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.ts';
import { checkInteractionLimits, DEFAULT_INTERACTION_LIMITS, INTERACTION_ENTRY_MAX } from '../../src/storage/interactions.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';

describe('EXPORT_ENTRY_EVENTS: most events per entry of the behaviour log', () => {
  it('is 64 by default, 1 to 64 (the most any reader expects in an entry), and refused outside that at start', () => {
    assert.equal(loadConfig({}).exportEntryEvents, INTERACTION_ENTRY_MAX);
    assert.equal(loadConfig({ EXPORT_ENTRY_EVENTS: '1' }).exportEntryEvents, 1);
    assert.equal(loadConfig({ EXPORT_ENTRY_EVENTS: '64' }).exportEntryEvents, 64);
    for (const bad of ['0', '65', '1.5', 'x']) {
      assert.throws(() => loadConfig({ EXPORT_ENTRY_EVENTS: bad }), /EXPORT_ENTRY_EVENTS=.* is invalid: expected an integer from 1 to 64/, bad);
    }
  });

  it('is checked again by both stores when they are built', () => {
    checkInteractionLimits({ ...DEFAULT_INTERACTION_LIMITS, entryEvents: 1 });
    const limits = (entryEvents: number) => ({ eventLogMax: 10, viewDedupS: 60, interactions: { max: 100, hold: true, entryEvents } });
    // never connected: the limits are refused before the client is used
    const redis = new Redis({ lazyConnect: true });
    try {
      for (const bad of [0, 65, 2.5, Number.NaN]) {
        assert.throws(() => new MemoryStore(limits(bad)), RangeError, `memory ${bad}`);
        assert.throws(() => new RedisStore({ redis, prefix: 'never:', limits: limits(bad) }), RangeError, `redis ${bad}`);
      }
    } finally {
      redis.disconnect();
    }
  });
});
