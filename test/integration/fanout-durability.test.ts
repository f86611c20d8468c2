/**
 * Durable fan-out across real processes on Redis: an author with 10,000 followers posts, the
 * process fanning out is killed (SIGKILL) mid fan-out, and the fan-out is finished by the
 * other processes (one already running, one started after the kill) from the page it
 * reached: every follower's inbox holds the post exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { RedisKeys } from '../../src/storage/redis/keys.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser } from '../helpers/server.ts';

const FOLLOWERS = 10_000;
const BATCH = 20; // 500 pages: the kill lands mid fan-out on any machine speed (see below)

describe('durable fan-out across processes on Redis', () => {
  const prefix = randomPrefix('fanout');
  const keys = new RedisKeys(prefix);
  const servers: ServerProcess[] = [];
  let redis: Redis;
  let store: RedisStore;
  const env = (nodeId: number) => ({
    STORAGE: 'redis',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    NODE_ID: String(nodeId),
    FANOUT_PUSH_MAX_FOLLOWERS: String(FOLLOWERS),
    FANOUT_BATCH: String(BATCH),
    // a dead holder's fan-out is taken over after 2 s of silence (looked for every 100 ms)
    FANOUT_LEASE: '2s',
    FANOUT_POLL: '100ms',
  });

  before(async () => {
    redis = await connectRedis();
    store = new RedisStore({ redis, prefix, limits: { eventLogMax: 100, viewDedupS: 60 } });
  });
  after(async () => {
    // a killed or stopped process has already exited: stop() would wait for an exit that came
    await Promise.all(servers.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? s.stop() : undefined)));
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('finishes the fan-out of a process killed mid-way, on the other processes, from the page it reached: each inbox holds the post once', async (t) => {
    let mark = Date.now();
    const lap = (what: string) => {
      t.diagnostic(`${what}: ${Date.now() - mark} ms`);
      mark = Date.now();
    };
    const [a, b] = await Promise.all([spawnServer(env(51)), spawnServer(env(52))]);
    servers.push(a, b);
    lap('two processes started');
    const author = await newUser(a, 'fanauthor');

    // 10,000 followers written straight into the store, many calls in flight at once
    const ids = new TsidGenerator({ nodeId: 53 });
    const followers = Array.from({ length: FOLLOWERS }, () => ids.next());
    const now = Date.now();
    for (let i = 0; i < followers.length; i += 1000) {
      const chunk = followers.slice(i, i + 1000);
      await Promise.all(
        chunk.map((id) => store.users.create({ id, handle: `f${id.toLowerCase()}`, displayName: 'f', bio: '', createdAt: new Date(now).toISOString(), passwordHash: 'x' })),
      );
      await Promise.all(chunk.map((id) => store.users.applyOps(id, [{ type: 'follow', targetId: author.id }], { now })));
    }
    assert.equal(await store.users.followerCount(author.id), FOLLOWERS);
    lap('10,000 followers seeded');

    // b must not take the fan-out while a holds it: freeze b until a is frozen mid-way
    b.child.kill('SIGSTOP');
    const video = await author.http.createVideo({ title: 'to every follower' });
    // a records the follower page it reached after each page: once a cursor is saved, a is
    // frozen (SIGSTOP) where it stands, then killed; 500 pages leave far more time than a poll
    const { cursors } = keys.fanout();
    await eventually(async () => (await redis.hlen(cursors)) > 0, 'the fan-out to record its first page', 30_000);
    a.child.kill('SIGSTOP');
    lap('post to the first recorded page');
    const member = `${video.id}:${author.id}`;
    const holding = async (): Promise<number[]> => {
      const pipeline = redis.pipeline();
      for (const id of followers) pipeline.zscore(keys.inbox(id), member);
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([err, score]) => (err ? -1 : score === null ? 0 : 1));
    };
    const before = (await holding()).reduce((n, x) => n + x, 0);
    assert.ok(before > 0 && before < FOLLOWERS, `killed mid fan-out: ${before} of ${FOLLOWERS} inboxes hold the post`);
    t.diagnostic(`killed with ${before} of ${FOLLOWERS} inboxes written`);
    a.child.kill('SIGKILL');
    await new Promise((resolve) => (a.child.exitCode !== null || a.child.signalCode !== null ? resolve(null) : a.child.once('exit', resolve)));

    // b (running since before the post) wakes; c starts after the kill: either takes it over
    b.child.kill('SIGCONT');
    const c = await spawnServer(env(54));
    servers.push(c);
    lap('kill, and a third process started');
    await eventually(async () => (await store.fanout.lag()).waiting === 0, 'the fan-out to finish on b or c', 60_000);
    lap('fan-out finished');

    const after = await holding();
    assert.equal(after.filter((x) => x !== 1).length, 0, 'every follower\u2019s inbox holds the post');
    // exactly once: the post is the only entry of every inbox (an inbox is a set keyed by video id)
    const sizes = redis.pipeline();
    for (const id of followers) sizes.zcard(keys.inbox(id));
    const cards = ((await sizes.exec()) ?? []).map(([, n]) => Number(n));
    assert.equal(cards.filter((n) => n !== 1).length, 0, 'one entry per inbox');
    assert.equal(await redis.hlen(cursors), 0, 'the finished fan-out left no cursor');
    assert.equal(await redis.xlen(keys.fanout().queue), 0);
  });
});
