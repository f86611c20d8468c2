/**
 * Failover on a real Redis Cluster of 3 masters with a replica each: under a steady load of
 * likes and comments, one master is SIGKILLed and its replica promoted. With
 * REDIS_WAIT_REPLICAS=1 every like and comment tremolo acknowledged is still there
 * afterwards; without it (asynchronous replication), the ones lost are counted and printed:
 * on a quiet machine the replica is usually caught up, so the count may well be 0.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Tremolo } from '../../src/main.ts';
import { slotOfTag } from '../../src/storage/redis/slots.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { eventually } from '../helpers/eventually.ts';
import { startRedisCluster } from '../helpers/redis.ts';
import { startServer } from '../helpers/server.ts';

const VIDEOS = 12;
const WORKERS = 24;

interface Outcome {
  likesAcked: number;
  likesLost: number;
  commentsAcked: number;
  commentsLost: number;
  failed: number;
}

/**
 * A setup write, retried as a client would when it is refused with E_STORAGE_UNAVAILABLE: with
 * REDIS_WAIT_REPLICAS=1 a replica slower than REDIS_WAIT_TIMEOUT_MS to acknowledge (a loaded
 * machine) fails the write unacknowledged, though the master may have applied it. `attempt` is
 * passed so that what must be unique (a handle) is new on each try.
 */
async function settingUp<T>(write: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write(attempt);
    } catch (err) {
      if (attempt >= 20 || !(err instanceof TremoloError) || err.code !== 'E_STORAGE_UNAVAILABLE') throw err;
    }
  }
}

async function failover(waitReplicas: number): Promise<Outcome> {
  const cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 });
  let server: Tremolo | undefined;
  try {
    server = await startServer({
      STORAGE: 'redis',
      REDIS_CLUSTER: cluster.nodes.join(','),
      REDIS_WAIT_REPLICAS: String(waitReplicas),
      REDIS_WAIT_TIMEOUT_MS: '300',
      STORAGE_TIMEOUT: '1s',
    });
    const engine = server.engine;
    const owner = await settingUp((n) => engine.createUser({ handle: `owner${n}x${Date.now()}`, passwordHash: 'x' }));
    const authors: { id: string }[] = [];
    for (let i = 0; i < 4; i++) authors.push(await settingUp((n) => engine.createUser({ handle: `author${i}x${n}x${Date.now()}`, passwordHash: 'x' })));
    const videos: string[] = [];
    for (let v = 0; v < VIDEOS; v++) videos.push((await settingUp(() => engine.createVideo(owner.id, { title: `failover ${v}` }))).id);

    // what was acknowledged, to look for after the failover
    const likes = new Map<string, string[]>(videos.map((v) => [v, []]));
    const comments = new Map<string, string[]>(videos.map((v) => [v, []]));
    let failed = 0;
    let running = true;
    let n = 0;
    const worker = async (w: number) => {
      while (running) {
        const i = n++;
        const video = videos[(i * 7 + w) % VIDEOS]!;
        try {
          if (i % 3 === 2) {
            const reply = await engine.addComment(video, authors[i % authors.length]!.id, { text: `c${i}`, idempotencyKey: `k${i}` });
            comments.get(video)!.push(reply.comment.id);
          } else {
            const user = `0${String(i).padStart(12, '0')}`; // a fresh liker per like: each ack is one member of the set
            await engine.like(video, user);
            likes.get(video)!.push(user);
          }
        } catch {
          failed++; // not acknowledged: nothing to look for (the client would retry)
          await new Promise((r) => setTimeout(r, 5)); // a client's backoff, so a dead shard is not spun on
        }
      }
    };
    const acked = () => [...likes.values(), ...comments.values()].reduce((s, l) => s + l.length, 0);
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));

    await eventually(() => acked() >= 300, 'load before the kill', 30_000);
    const victim = await cluster.masterOf(slotOfTag(videos[0]!));
    await cluster.kill(victim);
    // the replica is promoted within a few node timeouts; the load keeps going meanwhile
    await eventually(async () => (await cluster.masterOf(slotOfTag(videos[0]!))) !== victim, 'the replica to take over', 30_000);
    // the old master comes back as the new one's replica (as an operator would restart it):
    // until then a WAIT 1 on that shard cannot succeed, and its writes fail unacknowledged
    await cluster.restart(victim);
    await cluster.healthy();
    const before = acked();
    await eventually(() => acked() >= before + 200, 'load after the failover', 30_000);
    running = false;
    await load;

    // read everything back through a fresh client on the promoted topology
    const store = await RedisStore.connect({
      clusterNodes: (await cluster.masters()).map((m) => m.address),
      prefix: server.config.redisPrefix,
      limits: { eventLogMax: server.config.eventLogMax, viewDedupS: server.config.viewDedupS },
      timeoutMs: 2000,
    });
    const outcome: Outcome = { likesAcked: 0, likesLost: 0, commentsAcked: 0, commentsLost: 0, failed };
    try {
      for (const video of videos) {
        const likers = likes.get(video)!;
        const present = likers.length ? await store.videos.likedBy(video, likers) : [];
        outcome.likesAcked += likers.length;
        outcome.likesLost += present.filter((p) => !p).length;
        const stored = new Set<string>();
        let cursor: string | undefined;
        do {
          const page = await store.videos.comments(video, 'oldest', { limit: 100, ...(cursor ? { cursor } : {}) });
          for (const c of page.items) stored.add(c.id);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        const ids = comments.get(video)!;
        outcome.commentsAcked += ids.length;
        outcome.commentsLost += ids.filter((id) => !stored.has(id)).length;
      }
    } finally {
      await store.close();
    }
    return outcome;
  } finally {
    await server?.close();
    await cluster.stop();
  }
}

describe('Redis Cluster failover (3 masters, 3 replicas, SIGKILL of a master)', () => {
  const report: string[] = [];
  after(() => {
    for (const line of report) process.stdout.write(`${line}\n`);
  });

  it('loses no acknowledged like or comment with REDIS_WAIT_REPLICAS=1', async () => {
    const o = await failover(1);
    report.push(`failover with REDIS_WAIT_REPLICAS=1: ${JSON.stringify(o)}`);
    assert.ok(o.likesAcked > 0 && o.commentsAcked > 0, 'the load was acknowledged');
    assert.equal(o.likesLost, 0, 'acknowledged likes lost');
    assert.equal(o.commentsLost, 0, 'acknowledged comments lost');
  });

  it('reports what asynchronous replication (REDIS_WAIT_REPLICAS=0) lost', async () => {
    const o = await failover(0);
    // the count depends on how far the replica lagged at the kill: printed, not asserted
    report.push(`failover with REDIS_WAIT_REPLICAS=0: ${JSON.stringify(o)} (lost: ${o.likesLost + o.commentsLost})`);
    assert.ok(o.likesAcked > 0 && o.commentsAcked > 0, 'the load was acknowledged');
  });
});
