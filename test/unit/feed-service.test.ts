/**
 * FeedService on the memory store, time on a ManualClock: push fan-out into inboxes, pull of
 * big authors merged at read time, and the durable, bounded fan-out queue (a fan-out left by
 * a dead holder is taken over after the lease from the page it reached; a stopped service
 * gives its fan-out back; the lag is measured and a warning logged near the bound).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/domain/clock.ts';
import { RecordingSink } from '../../src/actors/events.ts';
import { FeedService, type FeedDeps, type FeedOptions } from '../../src/actors/feed.ts';
import { createMetrics } from '../../src/metrics.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { VideoRecord } from '../../src/protocol/model.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { Store } from '../../src/storage/store.ts';
import { eventually } from '../helpers/eventually.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };

const LEASE_MS = 30_000;
const POLL_MS = 1000;

async function world(options: Partial<FeedOptions> = {}, store: Store = new MemoryStore(LIMITS), clock = new ManualClock()) {
  const sink = new RecordingSink();
  const errors: unknown[] = [];
  const changed: string[][] = [];
  const warnings: Record<string, unknown>[] = [];
  /** A FeedService on the shared store and clock: one per "process". */
  const service = (extra: Partial<FeedDeps> = {}) =>
    new FeedService({
      store,
      sink,
      clock,
      options: { pushMaxFollowers: 2, inboxMax: 100, fanoutBatch: 2, maxQueued: 100, leaseMs: LEASE_MS, pollMs: POLL_MS, ...options },
      followerCount: (id) => store.users.followerCount(id),
      existing: async (ids) => Promise.all(ids.map(async (id) => (await store.videos.get(id)) !== null)),
      onError: (err) => errors.push(err),
      onWarning: (_message, fields) => warnings.push(fields),
      onInboxesChanged: (ids) => changed.push(ids),
      ...extra,
    });
  const feed = service();
  let n = 0;
  const user = async (handle: string) => {
    const id = `U${String(++n).padStart(12, '0')}`;
    await store.users.create({ id, handle, displayName: handle, bio: '', createdAt: new Date(0).toISOString(), passwordHash: 'x' });
    return id;
  };
  let v = 0;
  const post = async (ownerId: string): Promise<VideoRecord> => {
    const record: VideoRecord = { id: `V${String(++v).padStart(12, '0')}`, ownerId, title: `v${v}`, description: '', createdAt: new Date(v * 1000).toISOString(), media: {} };
    await store.videos.create(record);
    return record;
  };
  /** An author with `n` followers (sign-up order = follower order). */
  const authorWith = async (n: number) => {
    const author = await user('author');
    const followers: string[] = [];
    for (let i = 0; i < n; i++) {
      const f = await user(`f${i}`);
      await store.users.applyOps(f, [{ type: 'follow', targetId: author }], { now: clock.now() });
      followers.push(f);
    }
    return { author, followers };
  };
  /** How many times each user's inbox holds `videoId` (0 or 1: it is a set). */
  const held = async (userIds: string[], videoId: string) =>
    Promise.all(userIds.map(async (id) => (await store.feeds.inbox(id, undefined, 1000)).filter((e) => e.videoId === videoId).length));
  return { store, sink, clock, feed, service, errors, changed, warnings, user, post, authorWith, held };
}

describe('FeedService', () => {
  it('pushes a small author\u2019s post into every follower\u2019s inbox, in batches, with feed:new', async () => {
    const w = await world({ pushMaxFollowers: 5 });
    const author = await w.user('author');
    const followers = await Promise.all(['a', 'b', 'c'].map((h) => w.user(h)));
    for (const f of followers) await w.store.users.applyOps(f, [{ type: 'follow', targetId: author }], { now: Date.now() });
    const video = await w.post(author);
    await w.feed.publish(video);
    await w.feed.idle();
    for (const f of followers) assert.deepEqual((await w.feed.following(f, { limit: 10 })).items, [video.id]);
    assert.deepEqual(w.changed, [followers.slice(0, 2), followers.slice(2)], 'FANOUT_BATCH=2 inboxes per call');
    assert.deepEqual(
      w.sink.events.filter((e) => e.type === 'feed:new').map((e) => (e as { userIds: string[] }).userIds),
      [followers.slice(0, 2), followers.slice(2)],
    );
    assert.deepEqual(w.errors, []);
  });

  it('pulls a big author\u2019s posts at read time and merges them newest first, without gaps or repeats across pages', async () => {
    const w = await world({ pushMaxFollowers: 1 });
    const big = await w.user('big');
    const small = await w.user('small');
    const reader = await w.user('reader');
    const other = await w.user('other');
    await w.store.users.applyOps(reader, [{ type: 'follow', targetId: big }, { type: 'follow', targetId: small }], { now: Date.now() });
    await w.store.users.applyOps(other, [{ type: 'follow', targetId: big }], { now: Date.now() }); // big now has 2 > 1: pulled
    const posted: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const author of [big, small]) {
        const video = await w.post(author);
        await w.feed.publish(video);
        posted.push(video.id);
      }
    }
    await w.feed.idle();
    assert.deepEqual(await w.store.feeds.inbox(reader, undefined, 100).then((e) => e.map((x) => x.authorId)), Array(5).fill(small), 'only the small author pushed');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await w.feed.following(reader, { limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, [...posted].reverse());
  });

  it('bounds the queue: beyond maxQueued (in progress included) a post is refused with E_BUSY, and the place comes back when a fan-out is done', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const memory = new MemoryStore(LIMITS);
    // the first fan-out waits on the gate, so the queue fills up behind it
    const slowUsers = new Proxy(memory.users, {
      get: (target, prop, receiver) =>
        prop === 'followerCount' ? async (id: string) => (await gate, target.followerCount(id)) : Reflect.get(target, prop, receiver),
    });
    const store = Object.assign(Object.create(memory) as Store, { users: slowUsers });
    const w = await world({ maxQueued: 2 }, store);
    const author = await w.user('author');
    await w.feed.publish(await w.post(author));
    await w.feed.admit();
    await w.feed.publish(await w.post(author));
    assert.equal((await w.feed.lag()).waiting, 2);
    const busy = (e: unknown) => e instanceof TremoloError && e.code === 'E_BUSY' && e.retryAfter === 1;
    await assert.rejects(w.feed.admit(), busy, 'checked before the write');
    await assert.rejects(w.feed.publish(await w.post(author)), busy, 'and atomically at the enqueue');
    assert.equal((await w.feed.lag()).waiting, 2, 'a refused post queues nothing');
    open();
    await w.feed.idle();
    assert.deepEqual(await w.feed.lag(), { waiting: 0, oldestAt: null });
    await w.feed.admit();
  });

  it('takes over a fan-out whose holder died once the lease lapses, from the page it reached, and every inbox holds the post once', async () => {
    const w = await world({ pushMaxFollowers: 100 });
    const { author, followers } = await w.authorWith(7); // 4 pages of FANOUT_BATCH=2
    const video = await w.post(author);
    // a "process" queues the post, pushes the first page, records it, and dies
    const dead = 'dead-process';
    const { id } = await w.store.fanout.enqueue({ videoId: video.id, authorId: author, at: w.clock.now() }, 100);
    const [claim] = await w.store.fanout.claim(dead, { limit: 1, leaseMs: LEASE_MS, now: w.clock.now() });
    assert.equal(claim?.id, id);
    const first = await w.store.users.followers(author, { limit: 2 });
    await w.store.feeds.pushToInboxes(first.items, { videoId: video.id, authorId: author }, 100);
    assert.ok(await w.store.fanout.progress(id, dead, first.nextCursor!, { now: w.clock.now() }));

    const metrics = createMetrics({ defaultMetrics: false });
    const live = w.service({ metrics: metrics.fanout });
    live.start();
    w.clock.advance(LEASE_MS - POLL_MS); // polls find the entry, but it is still held
    await eventually(async () => (await w.store.fanout.lag()).waiting === 1 && w.changed.length === 0, 'the held entry left alone');
    assert.equal(w.changed.length, 0, 'no page pushed while the holder’s lease runs');
    w.clock.advance(POLL_MS); // the lease lapses: the next poll takes it over
    await eventually(async () => (await w.store.fanout.lag()).waiting === 0, 'the fan-out to finish');
    assert.deepEqual(w.changed, [followers.slice(2, 4), followers.slice(4, 6), followers.slice(6)], 'resumed after the recorded page, not from the start');
    assert.deepEqual(await w.held(followers, video.id), Array(7).fill(1));
    assert.equal(await w.store.fanout.progress(id, dead, 'x', { now: w.clock.now() }), false, 'the dead holder has lost it');
    assert.match(await metrics.registry.getSingleMetricAsString('tremolo_fanout_resumed_total'), / 1$/m);
    await live.stop();
    assert.deepEqual(w.errors, []);
  });

  it('stops claiming on stop(): the page in flight finishes and the rest is given back, taken at once by another process from that page', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let pages = 0;
    let reached!: () => void;
    const secondPage = new Promise<void>((r) => (reached = r));
    const memory = new MemoryStore(LIMITS);
    // the second page of followers waits on the gate: stop() arrives while it is in flight
    const gatedUsers = new Proxy(memory.users, {
      get: (target, prop, receiver) =>
        prop === 'followers'
          ? async (...args: Parameters<typeof target.followers>) => {
              if (++pages === 2) {
                reached();
                await gate;
              }
              return target.followers(...args);
            }
          : Reflect.get(target, prop, receiver),
    });
    const gated = Object.assign(Object.create(memory) as Store, { users: gatedUsers });
    const w = await world({ pushMaxFollowers: 100 }, gated);
    const { author, followers } = await w.authorWith(6);
    const video = await w.post(author);
    await w.feed.publish(video);
    await secondPage;
    const stopped = w.feed.stop();
    open();
    await stopped;
    assert.deepEqual(w.changed, [followers.slice(0, 2), followers.slice(2, 4)], 'the page in flight finished, no more');
    assert.equal((await w.store.fanout.lag()).waiting, 1, 'the rest waits in the queue');
    const other = w.service({ store: memory });
    await other.idle(); // no clock advance: given back, not left to lapse
    assert.deepEqual(w.changed.slice(2), [followers.slice(4)]);
    assert.deepEqual(await w.held(followers, video.id), Array(6).fill(1));
    assert.deepEqual(w.errors, []);
  });

  it('measures the lag (entries waiting, age of the oldest) on each poll and warns near the bound', async () => {
    const w = await world({ maxQueued: 5 });
    const author = await w.user('author');
    const start = w.clock.now();
    for (let i = 0; i < 4; i++) await w.store.fanout.enqueue({ videoId: (await w.post(author)).id, authorId: author, at: start }, 5);
    // another process holds them all (its lease runs): this one only watches
    assert.equal((await w.store.fanout.claim('other', { limit: 10, leaseMs: LEASE_MS, now: start })).length, 4);
    assert.deepEqual(await w.feed.lag(), { waiting: 4, oldestAt: start });
    const metrics = createMetrics({ defaultMetrics: false });
    const registry: Registry = metrics.registry;
    const watcher = w.service({ metrics: metrics.fanout });
    watcher.start();
    w.clock.advance(POLL_MS * 5);
    await eventually(async () => / 5$/m.test(await registry.getSingleMetricAsString('tremolo_fanout_oldest_age_seconds')), 'the age gauge');
    assert.match(await registry.getSingleMetricAsString('tremolo_fanout_queue_entries'), / 4$/m);
    assert.ok(w.warnings.some((f) => f.waiting === 4 && f.max === 5), JSON.stringify(w.warnings));
    await watcher.stop();
    assert.equal((await w.feed.lag()).waiting, 4, 'nothing taken from a live holder');
  });
});
