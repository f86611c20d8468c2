/**
 * What must hold however many nodes serve the same videos (ARCHITECTURE.md, "Consistency
 * across processes" and "Live delivery"), written once and run against several nodes in one
 * process: on an in-memory bus (cluster-memory.test.ts) and on real Redis with the real
 * adapter (cluster-redis.test.ts). Clients are the SDK over real sockets and HTTP; each is
 * spread over the nodes, so every delivery asserted here crosses from one node to another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LiveClient } from '../../src/client/live-client.ts';
import type { Tremolo } from '../../src/main.ts';
import type { CounterPayload, LiveVideoEvent } from '../../src/protocol/live.ts';
import type { TestCluster } from '../helpers/cluster.ts';
import { eventually, liveClient, newUser } from '../helpers/server.ts';

/** Settings every cluster under test runs with: reads cached for longer than any test waits. */
export const CLUSTER_ENV = { CACHE_TTL_MS: '60000', LIVE_COUNTER_INTERVAL_MS: '50' };

const NODES = 3;

export function clusterInvariants(label: string, start: () => Promise<TestCluster>): void {
  describe(label, () => {
    let cluster: TestCluster;
    let nodes: Tremolo[];
    const clients: LiveClient[] = [];
    /** A live client on `node`, closed after the suite. */
    const connect = async (node: Tremolo, token?: string) => {
      const c = await liveClient(node, token ? { token } : {});
      clients.push(c);
      return c;
    };
    /** Node `i`, round the ring. */
    const node = (i: number) => nodes[i % nodes.length]!;

    before(async () => {
      cluster = await start();
      nodes = cluster.nodes;
      assert.equal(nodes.length, NODES);
    });
    after(async () => {
      for (const c of clients) c.close();
      await cluster.stop();
    });

    it('likes sent to different nodes converge exactly: counts equal distinct likers, at every watcher and every node', async () => {
      const owner = await newUser(node(0), 'owner');
      const video = await owner.http.createVideo({ title: 'likes' });
      const watchers = await Promise.all(nodes.map((n) => connect(n)));
      const last = watchers.map(() => undefined as CounterPayload | undefined);
      watchers.forEach((w, i) => w.on('counters', (c) => (last[i] = c)));
      await Promise.all(watchers.map((w) => w.watch(video.id)));

      // 12 users, each on its own node; each likes twice at once (counts once), and every
      // third then unlikes
      const likers = await Promise.all(Array.from({ length: 12 }, async (_, i) => connect(node(i), (await newUser(node(i), `l${i}`)).token)));
      await Promise.all(
        likers.map(async (c, i) => {
          const [a, b] = await Promise.all([c.like(video.id), c.like(video.id)]);
          assert.deepEqual([a.changed, b.changed].sort(), [false, true], 'a second like changes nothing');
          if (i % 3 === 0) assert.equal((await c.unlike(video.id)).changed, true);
        }),
      );

      const final = (await owner.http.getVideo(video.id)).counters;
      assert.equal(final.likes, 8);
      await eventually(() => last.every((c) => c?.version === final.version), 'every watcher to reach the final version', 20_000);
      for (const c of last) assert.equal(c!.likes, 8);
      await eventually(
        async () => (await Promise.all(nodes.map(async (n) => (await (await fetch(`${n.url}/v1/videos/${video.id}`)).json()) as { counters: { likes: number } }))).every((v) => v.counters.likes === 8),
        'every node to serve the final count',
        5000,
      );
    });

    it('delivers every comment to watchers on every node exactly once, in offset order', async () => {
      const owner = await newUser(node(0), 'owner');
      const video = await owner.http.createVideo({ title: 'comments' });
      const watchers = await Promise.all(nodes.flatMap((n) => [connect(n), connect(n)]));
      const seen = watchers.map(() => [] as { id: string; offset: number }[]);
      watchers.forEach((w, i) => w.on('comment', (c) => seen[i]!.push({ id: c.id, offset: c.offset })));
      await Promise.all(watchers.map((w) => w.watch(video.id)));

      // writers on two nodes at once (their events meet in every room), none on the third: its
      // watchers hear everything from the others, with no local write to reveal a gap
      const writers = await Promise.all(Array.from({ length: 6 }, async (_, i) => connect(node(i % 2), (await newUser(node(i % 2), `w${i}`)).token)));
      const acked: string[] = [];
      await Promise.all(
        writers.map(async (w, i) => {
          for (let k = 0; k < 5; k++) acked.push((await w.comment(video.id, `from ${i} #${k}`)).comment.id);
        }),
      );

      await eventually(() => seen.every((s) => s.length >= acked.length), 'all comments at every watcher', 20_000);
      for (const s of seen) {
        assert.equal(s.length, acked.length, 'exactly once');
        assert.deepEqual(new Set(s.map((c) => c.id)), new Set(acked));
        const offsets = s.map((c) => c.offset);
        assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), 'in offset order');
      }
    });

    it('a watcher that comes back on another node gets exactly what it missed, from the log', async () => {
      const author = await newUser(node(0), 'author');
      const video = await author.http.createVideo({ title: 'moved' });
      const writer = await connect(node(1), author.token);
      const first = await connect(node(0));
      const watched = await first.watch(video.id);
      const got: string[] = [];
      first.on('comment', (c) => got.push(c.text));
      await writer.comment(video.id, 'before');
      await eventually(() => got.length === 1, 'the first comment');
      first.close();
      for (let i = 0; i < 4; i++) await writer.comment(video.id, `missed${i}`);

      const elsewhere = await connect(node(2));
      const reply = await elsewhere.call('video:watch', { videoId: video.id, sinceOffset: first.offsetOf(video.id)!, epoch: watched.snapshot.epoch });
      assert.equal(reply.recovered, true);
      const missed = (reply.events ?? []).filter((e): e is Extract<LiveVideoEvent, { type: 'comment:added' }> => e.type === 'comment:added');
      assert.deepEqual(
        missed.map((e) => e.comment.text),
        ['missed0', 'missed1', 'missed2', 'missed3'],
      );
    });

    it("carries a user's own events to the node that holds the user's socket", async () => {
      const owner = await newUser(node(0), 'star');
      const fan = await newUser(node(1), 'fan');
      const ownerSocket = await connect(node(1), owner.token);
      const fanSocket = await connect(node(2), fan.token);
      const notes: string[] = [];
      const feed: string[] = [];
      ownerSocket.on('notification', (n) => notes.push(n.type));
      fanSocket.on('feed', (f) => feed.push(f.videoId));

      await (await connect(node(0), fan.token)).follow(owner.id);
      const video = await owner.http.createVideo({ title: 'for fans' }); // through node 0
      await eventually(() => notes.includes('user:followed') && feed.includes(video.id), 'the notification and the feed post', 10_000);
    });

    it('drops cached reads and kept feed pages on every node when one node writes', async () => {
      const author = await newUser(node(0), 'kpa');
      const reader = await newUser(node(1), 'kpr');
      await reader.http.follow(author.id);
      const video = await author.http.createVideo({ title: 'kept' });
      const readVia = async (n: Tremolo) => ((await (await fetch(`${n.url}/v1/videos/${video.id}`)).json()) as { counters: { likes: number } }).counters.likes;
      await eventually(async () => (await reader.http.feed()).items.some((v) => v.id === video.id), 'the post to reach the feed', 5000);
      assert.equal((await reader.http.feed()).items[0]?.counters.likes, 0); // kept by node 1
      assert.deepEqual(await Promise.all(nodes.map(readVia)), [0, 0, 0]); // cached by every node, for longer than this test

      await author.http.like(video.id); // through node 0
      await eventually(async () => (await Promise.all(nodes.map(readVia))).every((likes) => likes === 1), 'every node to read the like', 5000);
      await eventually(async () => (await reader.http.feed()).items[0]?.counters.likes === 1, "node 1's kept feed page to show the like", 5000);
    });

    it('tells watchers on every node that a video was deleted', async () => {
      const owner = await newUser(node(0), 'del');
      const video = await owner.http.createVideo({ title: 'gone soon' });
      const watchers = await Promise.all(nodes.map((n) => connect(n)));
      const deleted = watchers.map(() => false);
      watchers.forEach((w, i) => w.on('videoDeleted', () => (deleted[i] = true)));
      await Promise.all(watchers.map((w) => w.watch(video.id)));
      await owner.http.deleteVideo(video.id);
      await eventually(() => deleted.every(Boolean), 'every watcher to hear of the deletion', 10_000);
    });
  });
}
