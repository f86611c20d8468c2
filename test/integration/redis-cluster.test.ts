/**
 * tremolo on a 3-node Redis Cluster: every script touches one slot (hash tags), the
 * sharded Socket.IO adapter carries broadcasts, and two processes agree.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { recommendationsContract } from '../contract/recommendations.contract.ts';
import { startRedisCluster, type PrivateCluster } from '../helpers/redis.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

describe('Redis Cluster', () => {
  let cluster: PrivateCluster;
  const servers: Tremolo[] = [];
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    for (const s of servers) await s.close();
    await cluster.stop();
  });

  it('serves REST and live traffic from two processes on one cluster', async () => {
    const env = { STORAGE: 'redis', REDIS_CLUSTER: cluster.nodes.join(','), LIVE_COUNTER_INTERVAL_MS: '20' };
    servers.push(await startServer({ ...env, NODE_ID: '1' }), await startServer({ ...env, NODE_ID: '2' }));
    const [s1, s2] = servers as [Tremolo, Tremolo];
    const alice = await newUser(s1, 'cl');
    const bob = await newUser(s2, 'cl');
    await bob.http.follow(alice.id);
    const video = await alice.http.createVideo({ title: 'on a cluster' });

    const watcher = await liveClient(s2);
    const comments: string[] = [];
    let likes = 0;
    watcher.on('comment', (c) => comments.push(c.text));
    watcher.on('counters', (c) => (likes = c.likes));
    await watcher.watch(video.id);

    const writer = await liveClient(s1, { token: bob.token });
    await writer.like(video.id);
    for (let i = 0; i < 5; i++) await writer.comment(video.id, `c${i}`);
    await eventually(() => comments.length === 5 && likes === 1, 'delivery across processes on the cluster');
    assert.deepEqual(comments, ['c0', 'c1', 'c2', 'c3', 'c4']);

    const seen = await alice.http.getVideo(video.id);
    assert.equal(seen.counters.likes, 1);
    assert.equal(seen.counters.comments, 5);
    assert.equal((await bob.http.user(alice.id)).followers, 1);
    await s1.engine.feed.idle();
    assert.deepEqual(
      (await bob.http.feed()).items.map((v) => v.id),
      [video.id],
    );
    watcher.close();
    writer.close();
  });
});

// the For You Store calls on a Cluster: the batched ones (recordSignals, engagedOf, engagersOf,
// addSimilarMany, addEngagers) span many subjects' and videos' slots in one call
describe('Redis Cluster: the recommendations contract', () => {
  let cluster: PrivateCluster;
  let store: RedisStore;
  before(async () => {
    cluster = await startRedisCluster();
    store = await RedisStore.connect({ clusterNodes: cluster.nodes, prefix: 'rec:', limits: { eventLogMax: 100, viewDedupS: 60 }, timeoutMs: 5000 });
  });
  after(async () => {
    await store.close();
    await cluster.stop();
  });
  recommendationsContract(() => store);
});
