/**
 * Consistency across processes (ARCHITECTURE.md): several engines on one Redis, storage as
 * the arbiter; and a Redis that goes away in the middle of actor turns.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { Engine } from '../../src/actors/engine.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Comment } from '../../src/protocol/model.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { testEngine } from '../helpers/engine.ts';
import { eventually } from '../helpers/eventually.ts';
import { REDIS_URL, connectRedis, dropPrefix, randomPrefix, startRedis } from '../helpers/redis.ts';

const LIMITS = { eventLogMax: 100_000, viewDedupS: 60 };

async function makeUsers(engine: Engine, n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await engine.createUser({ handle: `${tag}${i}x${Date.now() % 100000}`, passwordHash: 'x' })).id);
  return ids;
}

describe('two engines on one Redis', () => {
  let admin: Redis;
  const prefix = randomPrefix('engines');
  const stores: RedisStore[] = [];
  before(async () => {
    admin = await connectRedis();
  });
  after(async () => {
    for (const s of stores) await s.close();
    await dropPrefix(admin, prefix);
    admin.disconnect();
  });

  it('converge: counts equal distinct likers, every acknowledged comment exactly once, same version everywhere', async () => {
    const open = async () => {
      const s = await RedisStore.connect({ url: REDIS_URL, prefix, limits: LIMITS, timeoutMs: 5000 });
      stores.push(s);
      return s;
    };
    // readStaleMs 0: a read never serves state another engine has since changed
    const a = testEngine(await open(), { nodeId: 11, readStaleMs: 0 }).engine;
    const b = testEngine(await open(), { nodeId: 12, readStaleMs: 0 }).engine;
    const users = await makeUsers(a, 40, 'hammer');
    const owner = users[0]!;
    const videos = await Promise.all([1, 2, 3].map((i) => a.createVideo(owner, { title: `v${i}` })));

    // Each engine hammers every video with likes, unlikes and comments; comments are retried
    // through the OTHER engine with the same idempotency key, as a client would after a timeout.
    const acked: Comment[] = [];
    const ops: Promise<unknown>[] = [];
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 600; round++) {
      const engine = rnd() < 0.5 ? a : b;
      const other = engine === a ? b : a;
      const video = videos[Math.floor(rnd() * videos.length)]!;
      const user = users[Math.floor(rnd() * users.length)]!;
      const r = rnd();
      if (r < 0.6) {
        ops.push(rnd() < 0.65 ? engine.like(video.id, user) : engine.unlike(video.id, user));
      } else {
        const key = `k${round}`;
        ops.push(
          engine.addComment(video.id, user, { text: `comment ${round}`, idempotencyKey: key }).then(async (first) => {
            const retry = await other.addComment(video.id, user, { text: `comment ${round} (retry)`, idempotencyKey: key });
            assert.equal(retry.comment.id, first.comment.id);
            assert.equal(retry.duplicate, true);
            acked.push(first.comment);
          }),
        );
      }
    }
    await Promise.all(ops);
    // Concurrent like/unlike of one pair is ordered by storage; whatever order it chose, the
    // count must equal the likers it holds, and both engines must read the same state.
    for (const v of videos) {
      const liked = await stores[0]!.videos.likedBy(v.id, users);
      const likers = users.filter((_, i) => liked[i]);
      const [sa, sb] = [await a.snapshot(v.id), await b.snapshot(v.id)];
      const stored = (await stores[1]!.videos.get(v.id))!;
      assert.equal(stored.counters.likes, likers.length, 'count equals distinct likers');
      assert.deepEqual(sa.counters, stored.counters);
      assert.deepEqual(sb.counters, stored.counters);
      assert.equal(sa.counters.version, sb.counters.version);

      const all: Comment[] = [];
      let cursor: string | undefined;
      do {
        const page = await a.comments(v.id, 'oldest', { cursor, limit: 100 });
        all.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      const mine = acked.filter((c) => c.videoId === v.id);
      assert.equal(all.length, mine.length, 'every acknowledged comment stored exactly once');
      assert.deepEqual(new Set(all.map((c) => c.id)), new Set(mine.map((c) => c.id)));
      assert.equal(stored.counters.comments, mine.length);

      // the event log is one total order: offsets 1..head without gaps
      const log = await stores[0]!.videos.events(v.id, 0, 100_000);
      assert.deepEqual(
        log.events.map((e) => e.offset),
        Array.from({ length: stored.log.offset }, (_, i) => i + 1),
      );
    }
  });
});

describe('a Redis that goes away mid-turn', () => {
  it('fails the callers, acknowledges nothing half-applied, and works again when Redis is back', async () => {
    const redis = await startRedis();
    const store = await RedisStore.connect({ url: redis.url, prefix: 'crash:', limits: LIMITS, timeoutMs: 500 });
    try {
      const { engine } = testEngine(store);
      const [owner, ...likers] = await makeUsers(engine, 30, 'crash');
      const video = await engine.createVideo(owner!, { title: 'crash' });
      await engine.like(video.id, likers[0]!);

      // a first wave of likes is acknowledged while Redis is up; a second is in flight when it is killed
      const like = (u: string) => engine.like(video.id, u).then((reply) => ({ u, reply }));
      const acked = await Promise.all(likers.slice(0, 10).map(like));
      const inflight = likers.slice(10).map(like);
      await redis.stop();
      const settled = await Promise.allSettled(inflight);
      for (const s of settled) {
        if (s.status === 'rejected') assert.equal((s.reason as TremoloError).code, 'E_STORAGE_UNAVAILABLE');
        else acked.push(s.value);
      }
      // Whatever was acknowledged had been applied: likers[0] liked before (no change), every
      // other like changed the set, and the newest acknowledged counters (likes only grow here)
      // count every acknowledged liker.
      for (const { u, reply } of acked) {
        assert.equal(reply.changed, u !== likers[0], `like of ${u}: changed`);
        assert.ok(reply.counters.likes >= 1 && reply.counters.likes <= likers.length, `like of ${u}: ${reply.counters.likes} likes`);
      }
      const newest = acked.reduce((a, b) => (a.reply.counters.version >= b.reply.counters.version ? a : b));
      assert.ok(newest.reply.counters.likes >= new Set([likers[0], ...acked.map((a) => a.u)]).size, 'acknowledged likes are counted');
      await assert.rejects(engine.like(video.id, owner!), (e: TremoloError) => e.code === 'E_STORAGE_UNAVAILABLE');

      await redis.start();
      await eventually(() => store.ping().then(() => true, () => false), 'the store to reconnect');
      // Redis came back empty (no persistence): the actor must not serve its old memory;
      // it reloads and finds the video gone, rather than acknowledging against lost state.
      await assert.rejects(engine.like(video.id, owner!), (e: TremoloError) => e.code === 'E_VIDEO_NOT_FOUND');
      // and new work succeeds
      const fresh = await engine.createUser({ handle: `back${Date.now() % 100000}`, passwordHash: 'x' });
      const v2 = await engine.createVideo(fresh.id, { title: 'after' });
      assert.equal((await engine.like(v2.id, fresh.id)).counters.likes, 1);
    } finally {
      await store.close();
      await redis.stop();
    }
  });

  it('keeps acknowledged likes when Redis survives (nothing acknowledged is lost)', async () => {
    const redis = await startRedis();
    const store = await RedisStore.connect({ url: redis.url, prefix: 'keep:', limits: LIMITS, timeoutMs: 500 });
    const admin = await connectRedis(redis.url);
    try {
      const { engine } = testEngine(store);
      const [owner, ...likers] = await makeUsers(engine, 40, 'keep');
      const video = await engine.createVideo(owner!, { title: 'pause' });
      // Redis stops answering (paused) while likes are in flight, then resumes
      const inflight = likers.map((u) => engine.like(video.id, u).then(() => u));
      await admin.call('CLIENT', 'PAUSE', '800', 'ALL');
      const settled = await Promise.allSettled(inflight);
      // a PING answered after the pause comes after every write this connection sent
      await eventually(() => store.ping().then(() => true, () => false), 'Redis to answer again');
      const acknowledged = settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<string>).value);
      const liked = await store.videos.likedBy(video.id, likers);
      for (const u of acknowledged) assert.equal(liked[likers.indexOf(u)], true, `acknowledged like of ${u} is stored`);
      const state = (await store.videos.get(video.id))!;
      assert.equal(state.counters.likes, liked.filter(Boolean).length);
    } finally {
      admin.disconnect();
      await store.close();
      await redis.stop();
    }
  });
});

describe('engine on the memory driver', () => {
  it('serves reads from the actor within the staleness bound and counts views once per viewer', async () => {
    const { engine, sink } = testEngine(new MemoryStore(LIMITS));
    const [owner, viewer] = await makeUsers(engine, 2, 'mem');
    const v = await engine.createVideo(owner!, { title: 'views' });
    await engine.view(v.id, { userId: viewer! });
    await engine.view(v.id, { userId: viewer! });
    await engine.view(v.id, { anonymousKey: 'someone' });
    await engine.view(v.id, { anonymousKey: 'someone' });
    await engine.view(v.id, { anonymousKey: 'someone else' });
    assert.equal((await engine.snapshot(v.id)).counters.views, 3);
    const w = await engine.watch(v.id, { userId: viewer! });
    assert.equal(w.snapshot.counters.views, 3);
    assert.ok(sink.events.some((e) => e.type === 'video' && e.events.some((x) => x.type === 'counters')));
    await assert.rejects(engine.like('0000000000000', owner!), (e: TremoloError) => e.code === 'E_VIDEO_NOT_FOUND');
  });
});
