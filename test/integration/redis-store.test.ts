/**
 * Redis-only behaviour of the Redis driver (the shared behaviour is the contract suite):
 * outages and hangs fail fast with E_STORAGE_UNAVAILABLE and heal, several stores on one
 * Redis agree, scripts survive SCRIPT FLUSH, a lost event log gets a new epoch.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Comment, VideoEvent, VideoRecord } from '../../src/protocol/model.ts';
import { INTERACTION_ENTRY_MAX } from '../../src/storage/interactions.ts';
import { RedisKeys } from '../../src/storage/redis/keys.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import type { Store, UserRecord } from '../../src/storage/store.ts';
import { connectRedis, dropPrefix, freePort, randomPrefix, startRedis } from '../helpers/redis.ts';
import { videoRecord } from '../helpers/stores.ts';

const LIMITS = { eventLogMax: 200, viewDedupS: 60 };
const ids = new TsidGenerator({ nodeId: 9 });
const now = Date.now();

const isUnavailable = (e: unknown) => e instanceof TremoloError && e.code === 'E_STORAGE_UNAVAILABLE';

const userRecord = (): UserRecord => {
  const id = ids.next();
  return { id, handle: `u${id.toLowerCase()}`, displayName: 'u', bio: '', createdAt: new Date(now).toISOString(), passwordHash: 'x' };
};
const commentOf = (videoId: string, authorId: string, text: string): Comment => ({
  id: `${videoId}-${ids.next()}`,
  videoId,
  authorId,
  text,
  createdAt: new Date(now).toISOString(),
});

async function seed(store: Store): Promise<{ user: UserRecord; video: VideoRecord }> {
  const user = userRecord();
  await store.users.create(user);
  const video = videoRecord(ids, user.id, now);
  await store.videos.create(video);
  return { user, video };
}

/** Resolves with how long `call` took to reject with E_STORAGE_UNAVAILABLE. */
async function unavailableWithin(call: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(call(), isUnavailable);
  return performance.now() - t0;
}

async function eventually(check: () => Promise<unknown>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('RedisStore: outages', () => {
  it('refuses to connect to a Redis that is not there, promptly', async () => {
    const port = await freePort();
    const took = await unavailableWithin(() =>
      RedisStore.connect({ url: `redis://127.0.0.1:${port}`, prefix: randomPrefix('down'), limits: LIMITS, timeoutMs: 300 }),
    );
    assert.ok(took < 1500, `took ${took} ms`);
  });

  it('fails calls fast with E_STORAGE_UNAVAILABLE while Redis is gone, and works again when it is back', async () => {
    const server = await startRedis();
    const store = await RedisStore.connect({ url: server.url, prefix: randomPrefix('outage'), limits: LIMITS, timeoutMs: 500 });
    try {
      const { user, video } = await seed(store);
      // calls in flight when the server dies either completed or fail with the storage code
      const inFlight = Array.from({ length: 50 }, () =>
        store.videos.applyOps(video.id, [{ type: 'view' }], { now }).then(
          () => 'ok' as const,
          (err: unknown) => err,
        ),
      );
      await server.stop();
      const t0 = performance.now();
      const settled = await Promise.all(inFlight);
      assert.ok(performance.now() - t0 < 2000, 'in-flight calls settle promptly');
      for (const s of settled) assert.ok(s === 'ok' || isUnavailable(s), `unexpected ${String(s)}`);

      // while it is gone: every kind of call fails at once, none hangs
      for (const call of [
        () => store.ping(),
        () => store.users.get(user.id),
        () => store.videos.applyOps(video.id, [{ type: 'like', userId: user.id }], { now }),
        () => store.videos.get(video.id),
        () => store.feeds.pushToInboxes([user.id], { videoId: video.id, authorId: user.id }, 10),
        () => store.jobs.claim('A', { now, leaseMs: 1000, maxAttempts: 3 }),
      ]) {
        const took = await unavailableWithin(call);
        assert.ok(took < 1000, `took ${took} ms`);
      }

      await server.start();
      await eventually(() => store.ping(), 10_000);
      // a fresh server (it keeps nothing on disk): the store works on it, scripts included
      const again = await seed(store);
      assert.deepEqual(await store.users.get(again.user.id), again.user);
      const r = await store.videos.applyOps(again.video.id, [{ type: 'like', userId: again.user.id }], { now });
      assert.equal(r.counters.likes, 1);
    } finally {
      await store.close();
      await server.stop();
    }
  });

  it('times out calls on a Redis that hangs, with E_STORAGE_UNAVAILABLE, and carries on after', async () => {
    const server = await startRedis();
    const store = await RedisStore.connect({ url: server.url, prefix: randomPrefix('hang'), limits: LIMITS, timeoutMs: 300 });
    const blocker = await connectRedis(server.url);
    try {
      const { user, video } = await seed(store);
      // the server stops answering anyone for 1.2 s; once the reply to PAUSE is here, it is in effect
      await blocker.call('CLIENT', 'PAUSE', '1200', 'ALL');
      const took = await unavailableWithin(() => store.videos.applyOps(video.id, [{ type: 'like', userId: user.id }], { now }));
      assert.ok(took >= 250 && took < 1000, `took ${took} ms`);
      // a PING answered after the pause comes after the late reply to the like
      await eventually(() => store.ping(), 10_000);
      // the late reply did not desynchronise the connection
      assert.deepEqual(await store.users.get(user.id), user);
      const state = await store.videos.get(video.id);
      assert.equal(state?.video.id, video.id);
      assert.ok(state.counters.likes <= 1, 'the timed-out like may or may not have applied, once at most');
    } finally {
      blocker.disconnect();
      await store.close();
      await server.stop();
    }
  });
});

describe('RedisStore: shared Redis', () => {
  let r1: Redis;
  let r2: Redis;
  let raw: Redis;
  const prefix = randomPrefix('shared');
  let a: RedisStore;
  let b: RedisStore;

  before(async () => {
    [r1, r2, raw] = await Promise.all([connectRedis(), connectRedis(), connectRedis()]);
    a = new RedisStore({ redis: r1, prefix, limits: LIMITS });
    b = new RedisStore({ redis: r2, prefix, limits: LIMITS });
  });
  after(async () => {
    await dropPrefix(raw, prefix);
    await Promise.all([r1.quit(), r2.quit(), raw.quit()]);
  });

  it('refuses a prefix with braces (it would become the hash tag)', () => {
    assert.throws(() => new RedisStore({ redis: r1, prefix: 'x{y}:', limits: LIMITS }), RangeError);
  });

  it('two stores on one Redis read the same data and agree on concurrent writes', async () => {
    const { user, video } = await seed(a);
    assert.deepEqual(await b.users.get(user.id), user);
    assert.deepEqual(await b.videos.get(video.id), await a.videos.get(video.id));

    const likers: UserRecord[] = [];
    for (let i = 0; i < 20; i++) {
      const u = userRecord();
      await (i % 2 ? a : b).users.create(u);
      likers.push(u);
    }
    // 40 concurrent batches through both stores: each user likes twice, comments once
    const batches = likers.flatMap((u, i) => [
      (i % 2 ? a : b).videos.applyOps(video.id, [{ type: 'like', userId: u.id }], { now }),
      (i % 2 ? b : a).videos.applyOps(
        video.id,
        [
          { type: 'like', userId: u.id },
          { type: 'comment', comment: commentOf(video.id, u.id, `from ${i}`), idempotencyKey: 'k' },
        ],
        { now },
      ),
    ]);
    const results = await Promise.all(batches);
    const state = (await b.videos.get(video.id))!;
    assert.equal(state.counters.likes, 20);
    assert.equal(state.counters.comments, 20);
    assert.equal(state.counters.version, 40, 'one version per change: 20 likes + 20 comments');
    // every event has its own offset, and together they are the whole log, in order
    const offsets = results.flatMap((r) => r.events.map((e) => e.offset)).sort((x, y) => x - y);
    assert.deepEqual(
      offsets,
      Array.from({ length: state.log.offset }, (_, i) => i + 1),
    );
    const log = await a.videos.events(video.id, 0, 1000);
    assert.equal(log.complete, true);
    const byOffset = new Map<number, VideoEvent>(results.flatMap((r) => r.events.map((e) => [e.offset, e] as const)));
    assert.deepEqual(
      log.events,
      log.events.map((e) => byOffset.get(e.offset)),
    );
    // a retried comment through the other store returns the original
    const first = likers[0]!;
    const retry = await a.videos.applyOps(
      video.id,
      [{ type: 'comment', comment: commentOf(video.id, first.id, 'again'), idempotencyKey: 'k' }],
      { now },
    );
    const original = results[1]!.results[1]!;
    assert.ok(original.ok && original.type === 'comment');
    assert.deepEqual(retry.results[0], { ok: true, type: 'comment', comment: original.comment, duplicate: true });

    // follows through one store are seen through the other
    await a.users.applyOps(first.id, [{ type: 'follow', targetId: user.id }], { now: Date.now() });
    assert.equal(await b.users.isFollowing(first.id, user.id), true);
    assert.equal((await b.users.profile(user.id))?.followers, 1);
  });

  it('reservations made through several stores at once never overshoot the upload quota', async () => {
    const owner = ids.next();
    // each store has its own connection, as each process would
    const stores = [a, b, new RedisStore({ redis: raw, prefix, limits: LIMITS })];
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => stores[i % 3]!.uploads.reserve(owner, `${owner}-${i}`, 500, 2000)),
    );
    assert.equal(results.filter((r) => r.ok).length, 4);
    assert.equal(await b.uploads.usedBytes(owner), 2000);
    const kept = results.map((r, i) => (r.ok ? `${owner}-${i}` : '')).filter(Boolean);
    assert.deepEqual(await Promise.all(kept.map((id, i) => stores[i % 3]!.uploads.release(owner, id))), ['released', 'released', 'released', 'released']);
    assert.equal(await a.uploads.usedBytes(owner), 0);
  });

  it('keeps going after SCRIPT FLUSH (EVALSHA falls back to EVAL)', async () => {
    const { user, video } = await seed(a);
    await raw.script('FLUSH');
    const r = await a.videos.applyOps(video.id, [{ type: 'like', userId: user.id }], { now });
    assert.equal(r.counters.likes, 1);
    await raw.script('FLUSH');
    // the pipelined path (one EVALSHA per inbox) falls back too
    const f = userRecord();
    await a.users.create(f);
    await a.feeds.pushToInboxes([f.id, user.id], { videoId: video.id, authorId: user.id }, 10);
    assert.deepEqual(await b.feeds.inbox(f.id, undefined, 10), [{ videoId: video.id, authorId: user.id }]);
    await raw.script('FLUSH');
    assert.equal((await b.videos.get(video.id))?.counters.likes, 1);
  });

  it('gives the log a new epoch when it was lost, so old offsets are not trusted', async () => {
    const { video } = await seed(a);
    for (let i = 0; i < 3; i++) await a.videos.applyOps(video.id, [{ type: 'view' }], { now });
    const before = (await a.videos.get(video.id))!.log;
    assert.equal(before.offset, 3);
    await raw.del(new RedisKeys(prefix).video(video.id).log);
    const range = await b.videos.events(video.id, 1, 10);
    assert.notEqual(range.epoch, before.epoch);
    assert.equal(range.complete, false);
    assert.equal(range.head, 3);
    const after = await a.videos.applyOps(video.id, [{ type: 'view' }], { now });
    assert.equal(after.log.epoch, range.epoch, 'the new epoch is kept');
    assert.equal(after.log.offset, 4, 'offsets keep growing');
    assert.equal((await a.videos.get(video.id))?.log.epoch, range.epoch);
  });

  it('stores any text: JSON look-alikes, lone surrogates, odd idempotency keys', async () => {
    const { user, video } = await seed(a);
    const texts = ['{"type":"counters"}', 'lone \ud800 surrogate', '\u0000 nul', 'ключ 抖音 🎵'];
    const made = texts.map((t) => commentOf(video.id, user.id, t));
    const r = await a.videos.applyOps(
      video.id,
      made.map((comment, i) => ({ type: 'comment' as const, comment, idempotencyKey: `${texts[i]}"]` })),
      { now },
    );
    assert.deepEqual(
      r.results.map((x) => x.ok && x.type === 'comment' && !x.duplicate),
      [true, true, true, true],
    );
    const page = await b.videos.comments(video.id, 'oldest', { limit: 10 });
    assert.deepEqual(page.items, made);
    const events = (await b.videos.events(video.id, 0, 10)).events;
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'comment:added' ? [e.comment] : [])),
      made,
    );
  });

  it('applies a batch of 500 likes in one call with one counters event', async () => {
    const { video } = await seed(a);
    const ops = Array.from({ length: 500 }, (_, i) => ({ type: 'like' as const, userId: `liker-${i}` }));
    const r = await a.videos.applyOps(video.id, ops, { now });
    assert.equal(r.counters.likes, 500);
    assert.equal(r.counters.version, 500);
    assert.deepEqual(
      r.events.map((e) => e.type),
      ['counters'],
    );
    const again = await b.videos.applyOps(video.id, ops, { now });
    assert.equal(again.counters.likes, 500);
    assert.equal(again.events.length, 0);
  });

  it("builds each op's interaction event in the script from any text: odd session keys and user ids round-trip", async () => {
    const { video } = await seed(a);
    const odd = ['"quoted"', 'back\\slash', 'a/b', 'ключ 抖音 🎵', 'tab\tnew\nline', '{"type":"like"}'];
    await a.videos.applyOps(video.id, [...odd.map((k) => ({ type: 'view' as const, viewerId: `~${k}` })), ...odd.map((u) => ({ type: 'like' as const, userId: u }))], { now });
    const mine = (await b.interactions.read(null, 100_000)).events.filter((e) => 'videoId' in e && e.videoId === video.id);
    assert.deepEqual(
      mine.map((e) => ({ ...e, id: undefined })),
      [
        ...odd.map((k) => ({ v: 1, id: undefined, at: now, type: 'view', sessionId: k, videoId: video.id })),
        ...odd.map((u) => ({ v: 1, id: undefined, at: now, type: 'like', userId: u, videoId: video.id })),
      ],
    );
    assert.ok(mine.every((e) => /^[0-9A-Z]{13}$/.test(e.id)));
  });

  it('an export delivery from a stream that lost its group (deleted meanwhile) is empty, and the next one recreates it', async () => {
    const { video } = await seed(a);
    const keys = new RedisKeys(prefix);
    const stream = keys.interactionStream(keys.interactionTag(video.id));
    const at = { now };
    await a.videos.applyOps(video.id, [{ type: 'view', viewerId: '~k1' }], { now });
    const first = await a.interactions.deliver('lost-group', 100_000, at);
    assert.ok(first.events.some((e) => 'videoId' in e && e.videoId === video.id));
    await a.interactions.ack(first.receipt);
    await raw.del(stream);
    await a.videos.applyOps(video.id, [{ type: 'view', viewerId: '~k2' }], { now });
    const lost = await a.interactions.deliver('lost-group', 100_000, at);
    assert.ok(!lost.events.some((e) => 'videoId' in e && e.videoId === video.id), 'nothing from the stream without its group');
    const again = await a.interactions.deliver('lost-group', 100_000, at);
    assert.deepEqual(
      again.events.filter((e) => 'videoId' in e && e.videoId === video.id).map((e) => e.sessionId),
      ['k2'],
    );
    await a.interactions.ack(again.receipt);
  });
});

describe('RedisStore: interaction entries, one event each (written before batching) and batched per write', () => {
  let r: Redis;
  let raw: Redis;
  const prefix = randomPrefix('ixmix');
  let store: RedisStore;
  const keys = new RedisKeys(prefix);
  const at = { now };

  before(async () => {
    [r, raw] = await Promise.all([connectRedis(), connectRedis()]);
    store = new RedisStore({ redis: r, prefix, limits: { ...LIMITS, interactions: { max: 12, hold: true, entryEvents: INTERACTION_ENTRY_MAX } } });
  });
  after(async () => {
    await dropPrefix(raw, prefix);
    await Promise.all([r.quit(), raw.quit()]);
  });

  /** An event as a process from before batching wrote it: its own entry, field `e`. */
  const oldEntry = async (stream: string, videoId: string, sessionId: string) => {
    const event = { v: 1, id: ids.next(), type: 'view', at: now, sessionId, videoId };
    await raw.xadd(stream, '*', 'e', JSON.stringify(event));
    return event;
  };
  const sessions = (events: readonly unknown[]) => events.map((e) => (e as { sessionId?: string }).sessionId);

  it('reads, delivers, bounds and trims a stream holding both formats by events, never by entries', async () => {
    const { video } = await seed(store);
    const tag = keys.interactionTag(video.id);
    const stream = keys.interactionStream(tag);
    const extra = keys.interactionExtra(tag);
    const view = (k: string) => ({ type: 'view' as const, viewerId: `~${k}` });
    await store.videos.applyOps(video.id, [view('a')], { now }); // the stream exists, registered
    await oldEntry(stream, video.id, 'o1');
    await store.videos.applyOps(video.id, [view('b1'), view('b2'), view('b3')], { now });
    await oldEntry(stream, video.id, 'o2');
    await store.videos.applyOps(video.id, [view('c1'), view('c2')], { now });

    assert.equal(await raw.xlen(stream), 5, 'one entry per turn: 1 + old + 3 + old + 2 events in 5 entries');
    assert.deepEqual(await store.interactions.lag(), { total: 8, fullest: 8 }, 'the lag counts events');
    assert.deepEqual(sessions((await store.interactions.read(null, 100)).events), ['a', 'o1', 'b1', 'b2', 'b3', 'o2', 'c1', 'c2']);

    // the bound (12 events) counts events: 8 + 5 does not fit, 8 + 4 does
    const full = (e: unknown) => e instanceof TremoloError && e.code === 'E_EXPORT_BACKLOG';
    await assert.rejects(store.videos.applyOps(video.id, ['d1', 'd2', 'd3', 'd4', 'd5'].map(view), { now }), full);
    await store.videos.applyOps(video.id, ['d1', 'd2', 'd3', 'd4'].map(view), { now });
    await assert.rejects(store.videos.applyOps(video.id, [view('e')], { now }), full);

    // whole entries: a limit of 3 ends inside the 3-view turn, which still goes whole
    const first = await store.interactions.deliver('X', 3, at);
    assert.deepEqual(sessions(first.events), ['a', 'o1', 'b1', 'b2', 'b3']);
    const second = await store.interactions.deliver('Y', 100, at);
    assert.deepEqual(sessions(second.events), ['o2', 'c1', 'c2', 'd1', 'd2', 'd3', 'd4']);
    await store.interactions.ack(second.receipt);
    assert.equal((await store.interactions.lag()).total, 12, "X's entries are pending: nothing is trimmed");
    // X dies; Z takes its entries over (batched ones whole) and acknowledges them
    const taken = await store.interactions.deliver('Z', 100, { now: now + 1, claimIdleMs: 0 });
    assert.deepEqual(sessions(taken.events), ['a', 'o1', 'b1', 'b2', 'b3']);
    await store.interactions.ack(taken.receipt);
    assert.deepEqual(await store.interactions.lag(), { total: 0, fullest: 0 });
    assert.equal(await raw.exists(extra), 0, 'the counter goes with the last entry');
    await store.videos.applyOps(video.id, ['f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9', 'f10', 'f11', 'f12'].map(view), { now });
    assert.equal((await store.interactions.lag()).total, 12, 'room again for the whole bound');
    await store.interactions.ack((await store.interactions.deliver('Z', 100, at)).receipt);
  });

  it('reads on from inside a batched entry, and trims only the entries read through', async () => {
    const { video } = await seed(store);
    const tag = keys.interactionTag(video.id);
    const view = (k: string) => ({ type: 'view' as const, viewerId: `~${k}` });
    await store.videos.applyOps(video.id, [view('a1'), view('a2'), view('a3')], { now });
    await oldEntry(keys.interactionStream(tag), video.id, 'o');
    const head = await store.interactions.read(null, 2);
    assert.deepEqual(sessions(head.events), ['a1', 'a2']);
    const rest = await store.interactions.read(head.position, 100);
    assert.deepEqual(sessions(rest.events), ['a3', 'o']);
    await store.interactions.trim(head.position);
    assert.equal((await store.interactions.lag()).total, 4, 'the entry read in part stays');
    assert.deepEqual(sessions((await store.interactions.read(head.position, 100)).events), ['a3', 'o'], 'and reads on as before');
    await store.interactions.trim(rest.position);
    assert.deepEqual(await store.interactions.lag(), { total: 0, fullest: 0 });
    assert.equal(await raw.exists(keys.interactionExtra(tag)), 0);
  });
});

describe('RedisStore: EXPORT_ENTRY_EVENTS (entryEvents), the entry format a rolling upgrade writes', () => {
  let r: Redis;
  let raw: Redis;
  const prefix = randomPrefix('ixentry');
  const keys = new RedisKeys(prefix);
  /** Two processes on one Redis, as during the upgrade's two rollouts: one writing the old format, one batching. */
  let oldFormat: RedisStore;
  let batching: RedisStore;

  before(async () => {
    [r, raw] = await Promise.all([connectRedis(), connectRedis()]);
    const limits = (entryEvents: number) => ({ ...LIMITS, interactions: { max: 100, hold: true, entryEvents } });
    oldFormat = new RedisStore({ redis: r, prefix, limits: limits(1) });
    batching = new RedisStore({ redis: r, prefix, limits: limits(INTERACTION_ENTRY_MAX) });
  });
  after(async () => {
    await dropPrefix(raw, prefix);
    await Promise.all([r.quit(), raw.quit()]);
  });

  /** Every kind of write that records several events at once: an actor turn, a follow batch, reported events. */
  const writeAll = async (store: RedisStore, video: VideoRecord, follower: UserRecord, targets: readonly string[]) => {
    const views = ['a', 'b', 'c'].map((k) => ({ type: 'view' as const, viewerId: `~${k}${ids.next()}` }));
    await store.videos.applyOps(video.id, [...views, { type: 'like', userId: follower.id }], { now });
    await store.users.applyOps(follower.id, targets.map((targetId) => ({ type: 'follow' as const, targetId })), { now });
    const watch = () => ({ v: 1 as const, id: ids.next(), type: 'watch' as const, at: now, userId: follower.id, videoId: video.id, watchedMs: 10, positionMs: 10, durationMs: 100, completed: false });
    await store.interactions.record([watch(), watch()]);
  };
  const streamsOf = (...hashTags: string[]) => [...new Set(hashTags.map((t) => keys.interactionTag(t)))];

  it('1 writes one event per entry, field `e` alone (what readers before batching parse), and never adds to the extra-events counter', async () => {
    const { user, video } = await seed(oldFormat);
    const targets = [(await seed(oldFormat)).user.id, (await seed(oldFormat)).user.id];
    await writeAll(oldFormat, video, user, targets);
    const tags = streamsOf(video.id, user.id);
    let events = 0;
    for (const tag of tags) {
      for (const [, fields] of await raw.xrange(keys.interactionStream(tag), '-', '+')) {
        assert.equal(fields.length, 2, `one field: ${JSON.stringify(fields)}`);
        assert.equal(fields[0], 'e');
        // the previous release's claim path and read: JSON.parse(e) is one event
        const event = JSON.parse(fields[1]!) as { id?: unknown };
        assert.ok(!Array.isArray(event) && typeof event.id === 'string', fields[1]);
        events++;
      }
      assert.equal(await raw.exists(keys.interactionExtra(tag)), 0, 'no counter: an old acknowledgement script, which does not know it, cannot skew it');
    }
    assert.equal(events, 4 + 2 + 2, 'every event, each its own entry');
    assert.equal((await oldFormat.interactions.lag()).total, events);
    const d = await batching.interactions.deliver('X', 100, { now });
    assert.equal(d.events.length, events, 'a batching process reads them too');
    await batching.interactions.ack(d.receipt);
  });

  it('the default batches each write into one entry (`e` joined, `n`) and counts the events beyond one per entry', async () => {
    const { user, video } = await seed(batching);
    const targets = [(await seed(batching)).user.id, (await seed(batching)).user.id];
    await writeAll(batching, video, user, targets);
    const entries = (await Promise.all(streamsOf(video.id, user.id).map((tag) => raw.xrange(keys.interactionStream(tag), '-', '+')))).flat();
    assert.deepEqual(entries.map(([, fields]) => [fields[0], fields[2], fields[3]]).sort(), [['e', 'n', '2'], ['e', 'n', '2'], ['e', 'n', '4']].sort());
    const extra = await Promise.all(streamsOf(video.id, user.id).map((tag) => raw.get(keys.interactionExtra(tag))));
    assert.equal(extra.reduce((sum, x) => sum + Number(x ?? 0), 0), 1 + 1 + 3);
    const d = await oldFormat.interactions.deliver('X', 100, { now });
    assert.equal(d.events.length, 8, 'a process writing the old format still reads batched entries');
    await oldFormat.interactions.ack(d.receipt);
    assert.deepEqual(await batching.interactions.lag(), { total: 0, fullest: 0 });
  });
});
