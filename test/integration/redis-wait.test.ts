/**
 * REDIS_WAIT_REPLICAS on a private master + replica: writes (scripts and plain commands)
 * return once the replica holds them; with the replica gone, a write fails with
 * E_STORAGE_UNAVAILABLE within the WAIT timeout, and reads are not held up by WAIT.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { TremoloError } from '../../src/protocol/errors.ts';
import { likerMember } from '../../src/storage/redis/likers.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import type { UserRecord } from '../../src/storage/store.ts';
import { slotOfKey, slotOfTag } from '../../src/storage/redis/slots.ts';
import { loadConfig } from '../../src/config.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { connectRedis, randomPrefix, startRedisPair } from '../helpers/redis.ts';

const user = (id: string): UserRecord => ({ id, handle: `w${id}`, displayName: '', bio: '', createdAt: new Date().toISOString(), passwordHash: 'x' });

describe('REDIS_WAIT_REPLICAS', () => {
  let pair: Awaited<ReturnType<typeof startRedisPair>>;
  let store: RedisStore;
  const ids = new TsidGenerator({ nodeId: 3 });
  before(async () => {
    pair = await startRedisPair();
    store = await RedisStore.connect({
      url: pair.master.url,
      prefix: randomPrefix('wait'),
      limits: { eventLogMax: 100, viewDedupS: 0 },
      timeoutMs: 2000,
      replicaWait: { replicas: 1, timeoutMs: 200 },
    });
  });
  after(async () => {
    await store.close();
    await pair.stop();
  });

  it('acknowledges a write once the replica holds it', async () => {
    const owner = ids.next();
    await store.users.create(user(owner));
    const video = ids.next();
    await store.videos.create({ id: video, ownerId: owner, title: 't', description: '', createdAt: new Date().toISOString(), media: {} });
    const result = await store.videos.applyOps(video, [{ type: 'like', userId: owner }], { now: 2 });
    assert.equal(result.results[0]?.ok, true);
    // what the master acknowledged is on the replica already, not just soon
    const replica: Redis = await connectRedis(pair.replica.url);
    try {
      // the video's one likers bucket (lua/includes/likers.lua)
      const keys = await replica.keys('*likers:*');
      assert.equal(keys.length, 1);
      assert.deepEqual(await replica.smembers(keys[0]!), [likerMember(owner)]);
    } finally {
      replica.disconnect();
    }
  });

  it('fails a write with E_STORAGE_UNAVAILABLE when no replica acknowledges it in time; reads go on', async () => {
    await pair.replica.stop();
    const id = ids.next();
    await assert.rejects(
      store.users.create(user(id)),
      (err: unknown) => err instanceof TremoloError && err.code === 'E_STORAGE_UNAVAILABLE' && err.retryAfter === 1,
    );
    assert.equal(await store.users.get(ids.next()), null); // no WAIT on reads
  });

  it('needs a WAIT timeout below STORAGE_TIMEOUT', () => {
    assert.throws(() => loadConfig({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '2000', STORAGE_TIMEOUT: '2s' }), /REDIS_WAIT_TIMEOUT_MS/);
    assert.equal(loadConfig({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '500' }).redisWaitReplicas, 1);
  });

  it('routes by the hash tag, as Redis Cluster does', () => {
    assert.equal(slotOfKey('tremolo:v:{abc}:meta'), slotOfTag('abc'));
    assert.equal(slotOfKey('foo'), 12182); // CLUSTER KEYSLOT foo
    assert.equal(slotOfKey('a{}b'), slotOfTag('a{}b')); // an empty tag hashes the whole key
  });
});
