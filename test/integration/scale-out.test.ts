/**
 * Three server processes on one Redis: watchers spread over all three see every comment
 * exactly once, in offset order, and all converge on the same counters and version; a
 * write through one process invalidates the others' caches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { LiveClient } from '../../src/client/live-client.ts';
import type { CounterPayload } from '../../src/protocol/live.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, liveClient, newUser } from '../helpers/server.ts';

describe('three processes on one Redis', () => {
  const prefix = randomPrefix('scale');
  let servers: ServerProcess[] = [];
  let admin: Redis;
  const clients: LiveClient[] = [];

  before(async () => {
    admin = await connectRedis();
    servers = await Promise.all(
      [1, 2, 3].map((nodeId) =>
        spawnServer({ STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, NODE_ID: String(nodeId), CACHE_TTL_MS: '60000', LIVE_COUNTER_INTERVAL_MS: '50' }),
      ),
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    const codes = await Promise.all(servers.map((s) => s.stop()));
    assert.deepEqual(codes, [0, 0, 0], 'graceful shutdown exits 0');
    await dropPrefix(admin, prefix);
    admin.disconnect();
  });

  it('delivers every comment exactly once, in order, to watchers on every process; counters converge', async () => {
    const [s1, s2, s3] = servers as [ServerProcess, ServerProcess, ServerProcess];
    const owner = await newUser(s1, 'owner');
    const video = await owner.http.createVideo({ title: 'spread' });

    const watchers = await Promise.all(servers.flatMap((s) => [liveClient(s), liveClient(s)]));
    clients.push(...watchers);
    const seen = watchers.map(() => [] as { id: string; offset: number }[]);
    const last = watchers.map(() => undefined as CounterPayload | undefined);
    watchers.forEach((w, i) => {
      w.on('comment', (c) => seen[i]!.push({ id: c.id, offset: c.offset }));
      w.on('counters', (c) => (last[i] = c));
    });
    await Promise.all(watchers.map((w) => w.watch(video.id)));

    // writers on all three processes, concurrently
    const writers = await Promise.all(
      [s1, s2, s3, s1, s2, s3].map(async (s, i) => {
        const u = await newUser(s, `w${i}`);
        const c = await liveClient(s, { token: u.token });
        clients.push(c);
        return c;
      }),
    );
    const acked: string[] = [];
    await Promise.all(
      writers.map(async (w, i) => {
        await w.like(video.id);
        for (let k = 0; k < 5; k++) acked.push((await w.comment(video.id, `from ${i} #${k}`)).comment.id);
        if (i % 2 === 0) await w.unlike(video.id);
      }),
    );

    const final = (await owner.http.getVideo(video.id)).counters;
    assert.equal(final.likes, 3);
    assert.equal(final.comments, 30);
    await eventually(() => seen.every((s) => s.length >= 30), 'all comments at every watcher', 20_000);
    await eventually(() => last.every((c) => c?.version === final.version), 'counters converge at every watcher', 20_000);
    for (const s of seen) {
      assert.equal(s.length, 30, 'exactly once');
      assert.deepEqual(new Set(s.map((c) => c.id)), new Set(acked));
      const offsets = s.map((c) => c.offset);
      assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), 'in offset order');
    }
    for (const c of last) assert.deepEqual([c!.likes, c!.comments], [3, 30]);
  });

  it('invalidates cached reads in the other processes when one process writes', async () => {
    const [s1, s2] = servers as [ServerProcess, ServerProcess];
    const a = await newUser(s1, 'inv');
    const video = await a.http.createVideo({ title: 'cached' });
    const readVia = (s: ServerProcess) => fetch(`${s.url}/v1/videos/${video.id}`).then((r) => r.json() as Promise<{ counters: { likes: number } }>);
    assert.equal((await readVia(s2)).counters.likes, 0); // cached in s2 for 60 s
    await a.http.like(video.id); // through s1
    await eventually(async () => (await readVia(s2)).counters.likes === 1, 's2 to see the like before its TTL', 5000);
  });

  it("drops a kept feed page in the other processes when one of its videos changes", async () => {
    const [s1, s2] = servers as [ServerProcess, ServerProcess];
    const author = await newUser(s1, 'kpa');
    const reader = await newUser(s2, 'kpr');
    await reader.http.follow(author.id);
    const video = await author.http.createVideo({ title: 'kept' });
    await eventually(async () => (await reader.http.feed()).items.some((v) => v.id === video.id), 'the post to reach the feed', 5000);
    assert.equal((await reader.http.feed()).items[0]?.counters.likes, 0); // kept in s2
    await author.http.like(video.id); // through s1
    await eventually(async () => (await reader.http.feed()).items[0]?.counters.likes === 1, "s2's feed to show the like before its TTL", 5000);
  });
});
