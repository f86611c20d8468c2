/**
 * FeedService on the memory store: push fan-out into inboxes, pull of big authors merged at
 * read time, and the bounded fan-out queue.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordingSink } from '../../src/actors/events.ts';
import { FeedService, type FeedOptions } from '../../src/actors/feed.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { VideoRecord } from '../../src/protocol/model.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { Store } from '../../src/storage/store.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };

async function world(options: Partial<FeedOptions> = {}, store: Store = new MemoryStore(LIMITS)) {
  const sink = new RecordingSink();
  const errors: unknown[] = [];
  const changed: string[][] = [];
  const feed = new FeedService({
    store,
    sink,
    options: { pushMaxFollowers: 2, inboxMax: 100, fanoutBatch: 2, maxQueued: 100, ...options },
    followerCount: (id) => store.users.followerCount(id),
    existing: async (ids) => Promise.all(ids.map(async (id) => (await store.videos.get(id)) !== null)),
    onError: (err) => errors.push(err),
    onInboxesChanged: (ids) => changed.push(ids),
  });
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
  return { store, sink, feed, errors, changed, user, post };
}

describe('FeedService', () => {
  it('pushes a small author\u2019s post into every follower\u2019s inbox, in batches, with feed:new', async () => {
    const w = await world({ pushMaxFollowers: 5 });
    const author = await w.user('author');
    const followers = await Promise.all(['a', 'b', 'c'].map((h) => w.user(h)));
    for (const f of followers) await w.store.users.applyOps(f, [{ type: 'follow', targetId: author }], { now: Date.now() });
    const video = await w.post(author);
    w.feed.reserve().publish(video);
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
        w.feed.reserve().publish(video);
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

  it('bounds the queue: a post beyond maxQueued is refused with E_BUSY before it is written, and places come back', async () => {
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
    w.feed.reserve().publish(await w.post(author));
    const second = w.feed.reserve(); // written while the first fans out
    assert.equal(w.feed.depth, 2);
    assert.throws(
      () => w.feed.reserve(),
      (e: unknown) => e instanceof TremoloError && e.code === 'E_BUSY' && e.retryAfter === 1,
    );
    second.release(); // its write failed: the place is free again
    second.publish(await w.post(author)); // a used ticket does nothing
    assert.equal(w.feed.depth, 1);
    const third = w.feed.reserve();
    third.publish(await w.post(author));
    open();
    await w.feed.idle();
    assert.equal(w.feed.depth, 0);
    assert.doesNotThrow(() => w.feed.reserve().release());
  });
});
