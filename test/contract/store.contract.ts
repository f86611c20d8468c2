/**
 * The storage contract: one suite, run against every driver (memory.test.ts, redis.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Comment, TagInfo, VideoEvent, VideoRecord } from '../../src/protocol/model.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { eventually } from '../helpers/eventually.ts';
import { recommendationsContract } from './recommendations.contract.ts';
import { conversationsContract } from './conversations.contract.ts';
import type { InteractionEvent } from '../../src/protocol/interactions.ts';
import { INTERACTION_ENTRY_MAX, type InteractionLimits } from '../../src/storage/interactions.ts';
import type { Store, StoreLimits, UserRecord } from '../../src/storage/store.ts';
import { socialContract } from './social.contract.ts';
import { threadsContract } from './threads.contract.ts';

export const CONTRACT_LIMITS = { eventLogMax: 20, viewDedupS: 60, dmLogMax: 20 };

/** A store of the driver under test whose storage the test can take away and bring back. */
export interface StorageOutage {
  store: Store;
  /** Makes the storage unreachable (the server is gone). */
  stop(): Promise<void>;
  /** Brings it back. */
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ContractOptions {
  /** For drivers whose storage lives outside the process and can go away; in-process drivers have none. */
  outage?: () => Promise<StorageOutage>;
}

export function storeContract(
  driver: string,
  /** A fresh, empty store of the driver (CONTRACT_LIMITS unless `limits` is given). */
  open: (limits?: StoreLimits) => Promise<{ store: Store; cleanup: () => Promise<void> }>,
  opts: ContractOptions = {},
): void {
  describe(`Store contract: ${driver}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    const ids = new TsidGenerator({ nodeId: 7 });
    const now = Date.now();

    const user = async (handle = `u${ids.next().toLowerCase()}`): Promise<UserRecord> => {
      const record: UserRecord = {
        id: ids.next(),
        handle,
        displayName: handle,
        bio: '',
        createdAt: new Date().toISOString(),
        passwordHash: 'x',
      };
      await store.users.create(record);
      return record;
    };
    const video = async (ownerId: string, extra: Partial<VideoRecord> = {}): Promise<VideoRecord> => {
      const record: VideoRecord = {
        id: ids.next(),
        ownerId,
        title: 'a video',
        description: '',
        createdAt: new Date().toISOString(),
        media: {},
        ...extra,
      };
      await store.videos.create(record);
      return record;
    };
    const comment = (videoId: string, authorId: string, text = 'hi', replyTo?: string): Comment => ({
      id: `${videoId}-${ids.next()}`,
      videoId,
      authorId,
      text,
      createdAt: new Date().toISOString(),
      ...(replyTo ? { replyTo } : {}),
    });

    before(async () => {
      ({ store, cleanup } = await open());
    });
    after(async () => {
      await cleanup();
    });

    it('ping resolves, with nothing, while storage answers', async () => {
      assert.equal(await store.ping(), undefined);
    });

    const { outage } = opts;
    if (outage) {
      it('ping follows storage: E_STORAGE_UNAVAILABLE while it is away, resolves again once it is back', async () => {
        const o = await outage();
        try {
          assert.equal(await o.store.ping(), undefined);
          await o.stop();
          await assert.rejects(o.store.ping(), (e: unknown) => e instanceof TremoloError && e.code === 'E_STORAGE_UNAVAILABLE');
          await o.start();
          await eventually(() => o.store.ping().then(() => true, () => false), 'storage to answer again');
        } finally {
          await o.cleanup();
        }
      });
    }

    socialContract({ store: () => store, ids, user: () => user() });

    describe('users', () => {
      it('creates, reads by id and by handle case-insensitively', async () => {
        const u = await user('Alice_' + ids.next().slice(-4));
        assert.deepEqual(await store.users.get(u.id), u);
        assert.deepEqual(await store.users.getByHandle(u.handle.toUpperCase()), u);
        assert.equal(await store.users.get('0000000000000'), null);
        assert.equal(await store.users.getByHandle('nobody-here'), null);
      });

      it('refuses a taken handle with E_HANDLE_TAKEN', async () => {
        const u = await user();
        await assert.rejects(user(u.handle.toUpperCase()), (e: TremoloError) => e.code === 'E_HANDLE_TAKEN');
      });

      it('follows idempotently with exact counts, refuses self-follow and unknown users', async () => {
        const [a, b, c] = [await user(), await user(), await user()];
        const r = await store.users.applyOps(a.id, [
          { type: 'follow', targetId: b.id },
          { type: 'follow', targetId: b.id },
          { type: 'follow', targetId: c.id },
          { type: 'follow', targetId: a.id },
          { type: 'follow', targetId: '0000000000000' },
        ], { now: Date.now() });
        assert.deepEqual(r, [
          { ok: true, changed: true },
          { ok: true, changed: false },
          { ok: true, changed: true },
          { ok: false, code: 'E_SELF_FOLLOW' },
          { ok: false, code: 'E_USER_NOT_FOUND' },
        ]);
        assert.equal(await store.users.isFollowing(a.id, b.id), true);
        assert.equal(await store.users.isFollowing(b.id, a.id), false);
        assert.equal((await store.users.profile(a.id))?.following, 2);
        assert.equal((await store.users.profile(b.id))?.followers, 1);
        assert.equal(await store.users.followerCount(b.id), 1);
        const r2 = await store.users.applyOps(a.id, [
          { type: 'unfollow', targetId: b.id },
          { type: 'unfollow', targetId: b.id },
        ], { now: Date.now() });
        assert.deepEqual(r2, [
          { ok: true, changed: true },
          { ok: true, changed: false },
        ]);
        assert.equal((await store.users.profile(b.id))?.followers, 0);
        assert.deepEqual(await store.users.allFollowing(a.id), [c.id]);
      });

      it('pages followers with stable cursors', async () => {
        const star = await user();
        const fans = [];
        for (let i = 0; i < 7; i++) {
          const f = await user();
          fans.push(f.id);
          await store.users.applyOps(f.id, [{ type: 'follow', targetId: star.id }], { now: Date.now() });
        }
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.users.followers(star.id, { cursor, limit: 3 });
          seen.push(...page.items);
          cursor = page.nextCursor;
          pages++;
          if (pages === 1) {
            // a new follower arriving between pages does not shift the next page
            const late = await user();
            await store.users.applyOps(late.id, [{ type: 'follow', targetId: star.id }], { now: Date.now() });
            fans.push(late.id);
          }
        } while (cursor);
        assert.deepEqual(seen, fans);
        assert.equal(pages, 3);
        const f0 = fans[0]!;
        assert.deepEqual((await store.users.following(f0, { limit: 10 })).items, [star.id]);
      });

      it('profiles carry exact counts and no password hash', async () => {
        const u = await user();
        await video(u.id);
        await video(u.id);
        const p = await store.users.profile(u.id);
        assert.equal(p?.videos, 2);
        assert.equal((p as unknown as Record<string, unknown>).passwordHash, undefined);
        assert.equal(await store.users.profile('0000000000000'), null);
      });
    });

    threadsContract({ store: () => store, user, video, ids });

    describe('videos', () => {
      it('creates and reads with zero counters and an epoch', async () => {
        const u = await user();
        const v = await video(u.id, { description: 'd', media: { mp4: 'x/y.mp4' } });
        const s = await store.videos.get(v.id);
        assert.deepEqual(s?.video, v);
        assert.deepEqual(s?.counters, { likes: 0, comments: 0, views: 0, version: 0 });
        assert.equal(s?.log.offset, 0);
        assert.ok(s?.log.epoch);
        assert.equal(await store.videos.get('0000000000000'), null);
        const many = await store.videos.getMany([v.id, '0000000000000']);
        assert.equal(many[0]?.video.id, v.id);
        assert.equal(many[1], null);
      });

      it('likes idempotently; count equals distinct likers; version grows per change', async () => {
        const [a, b] = [await user(), await user()];
        const v = await video(a.id);
        const r = await store.videos.applyOps(
          v.id,
          [
            { type: 'like', userId: a.id },
            { type: 'like', userId: a.id },
            { type: 'like', userId: b.id },
            { type: 'unlike', userId: b.id },
            { type: 'unlike', userId: b.id },
          ],
          { now },
        );
        assert.deepEqual(
          r.results.map((x) => (x.ok && (x.type === 'like' || x.type === 'unlike') ? x.changed : null)),
          [true, false, true, true, false],
        );
        assert.equal(r.counters.likes, 1);
        assert.equal(r.counters.version, 3);
        assert.deepEqual(await store.videos.likedBy(v.id, [a.id, b.id]), [true, false]);
        // one coalesced counters event per batch
        assert.equal(r.events.length, 1);
        assert.deepEqual(r.events[0], { offset: 1, type: 'counters', counters: r.counters });
        assert.deepEqual(r.log.offset, 1);
        const r2 = await store.videos.applyOps(v.id, [{ type: 'unlike', userId: b.id }], { now });
        assert.equal(r2.events.length, 0, 'no change, no event');
        assert.equal(r2.counters.version, 3);
      });

      it("answers a page's likedByMe for one user in one call", async () => {
        const [a, b] = [await user(), await user()];
        const [v1, v2, v3] = [await video(a.id), await video(a.id), await video(b.id)];
        await store.videos.applyOps(v1.id, [{ type: 'like', userId: a.id }], { now });
        await store.videos.applyOps(v3.id, [{ type: 'like', userId: a.id }, { type: 'like', userId: b.id }], { now });
        assert.deepEqual(await store.videos.likedByUser(a.id, [v1.id, v2.id, v3.id, '0000000000000']), [true, false, true, false]);
        assert.deepEqual(await store.videos.likedByUser(b.id, [v3.id, v1.id]), [true, false]);
        assert.deepEqual(await store.videos.likedByUser(b.id, []), []);
      });

      it('never counts likes below zero', async () => {
        const a = await user();
        const v = await video(a.id);
        const r = await store.videos.applyOps(v.id, [{ type: 'unlike', userId: a.id }], { now });
        assert.equal(r.counters.likes, 0);
      });

      it('dedups views per user within the window; anonymous views always count', async () => {
        const a = await user();
        const v = await video(a.id);
        const r = await store.videos.applyOps(
          v.id,
          [{ type: 'view', viewerId: a.id }, { type: 'view', viewerId: a.id }, { type: 'view' }, { type: 'view' }],
          { now },
        );
        assert.equal(r.counters.views, 3);
        const later = await store.videos.applyOps(v.id, [{ type: 'view', viewerId: a.id }], {
          now: now + (CONTRACT_LIMITS.viewDedupS + 1) * 1000,
        });
        assert.equal(later.counters.views, 4);
      });

      it('adds comments once per idempotency key, replies within the video, counts them', async () => {
        const [a, b] = [await user(), await user()];
        const v = await video(a.id);
        const c1 = comment(v.id, b.id, 'first');
        const r = await store.videos.applyOps(
          v.id,
          [
            { type: 'comment', comment: c1, idempotencyKey: 'k1' },
            { type: 'comment', comment: comment(v.id, b.id, 'retry of first'), idempotencyKey: 'k1' },
          ],
          { now },
        );
        assert.deepEqual(r.results[0], { ok: true, type: 'comment', comment: c1, duplicate: false });
        assert.deepEqual(r.results[1], { ok: true, type: 'comment', comment: c1, duplicate: true });
        assert.equal(r.counters.comments, 1);
        assert.deepEqual(
          r.events.map((e) => [e.offset, e.type, 'prev' in e ? e.prev : null]),
          [
            [1, 'comment:added', 0],
            [2, 'counters', null],
          ],
        );
        // the same key from another user is a different comment
        const other = comment(v.id, a.id, 'mine');
        const r2 = await store.videos.applyOps(v.id, [{ type: 'comment', comment: other, idempotencyKey: 'k1' }], { now });
        assert.equal(r2.results[0]?.ok && r2.results[0].type === 'comment' && r2.results[0].duplicate, false);
        const reply = comment(v.id, a.id, 'reply', c1.id);
        const bad = comment(v.id, a.id, 'bad reply', `${v.id}-0000000000000`);
        const r3 = await store.videos.applyOps(
          v.id,
          [
            { type: 'comment', comment: reply, idempotencyKey: 'k2' },
            { type: 'comment', comment: bad, idempotencyKey: 'k3' },
          ],
          { now },
        );
        assert.equal(r3.results[0]?.ok, true);
        assert.deepEqual(r3.results[1], { ok: false, code: 'E_REPLY_TARGET' });
        assert.equal(r3.counters.comments, 3);
      });

      it('stores comment text verbatim, unicode included', async () => {
        const a = await user();
        const v = await video(a.id);
        const c = comment(v.id, a.id, '抖音 🎵 "quotes" \\ back\nslash');
        await store.videos.applyOps(v.id, [{ type: 'comment', comment: c, idempotencyKey: 'u' }], { now });
        const page = await store.videos.comments(v.id, 'newest', { limit: 5 });
        assert.equal(page.items[0]?.text, c.text);
      });

      it('deletes comments by author or video owner only', async () => {
        const [owner, author, other] = [await user(), await user(), await user()];
        const v = await video(owner.id);
        const c1 = comment(v.id, author.id);
        const c2 = comment(v.id, author.id);
        await store.videos.applyOps(
          v.id,
          [
            { type: 'comment', comment: c1, idempotencyKey: '1' },
            { type: 'comment', comment: c2, idempotencyKey: '2' },
          ],
          { now },
        );
        const r = await store.videos.applyOps(
          v.id,
          [
            { type: 'deleteComment', commentId: c1.id, userId: other.id },
            { type: 'deleteComment', commentId: c1.id, userId: author.id },
            { type: 'deleteComment', commentId: c2.id, userId: owner.id },
            { type: 'deleteComment', commentId: c2.id, userId: owner.id },
          ],
          { now },
        );
        assert.deepEqual(r.results, [
          { ok: false, code: 'E_FORBIDDEN' },
          { ok: true, type: 'deleteComment', deleted: true },
          { ok: true, type: 'deleteComment', deleted: true },
          { ok: false, code: 'E_COMMENT_NOT_FOUND' },
        ]);
        assert.equal(r.counters.comments, 0);
        assert.deepEqual(
          r.events.map((e) => e.type),
          ['comment:deleted', 'comment:deleted', 'counters'],
        );
        // comment events chain through `prev`, skipping counter events
        const [d1, d2] = r.events as Extract<VideoEvent, { prev: number }>[];
        assert.equal(d1!.prev, 2, 'the second comment:added was at offset 2 (one batch, counters at 3)');
        assert.equal(d2!.prev, d1!.offset);
        assert.deepEqual((await store.videos.comments(v.id, 'oldest', { limit: 10 })).items, []);
      });

      it('lists comments newest-first and oldest-first with cursors stable under inserts', async () => {
        const a = await user();
        const v = await video(a.id);
        const made: Comment[] = [];
        for (let i = 0; i < 5; i++) {
          const c = comment(v.id, a.id, `c${i}`);
          made.push(c);
          await store.videos.applyOps(v.id, [{ type: 'comment', comment: c, idempotencyKey: `k${i}` }], { now });
        }
        const p1 = await store.videos.comments(v.id, 'newest', { limit: 2 });
        assert.deepEqual(
          p1.items.map((c) => c.text),
          ['c4', 'c3'],
        );
        await store.videos.applyOps(v.id, [{ type: 'comment', comment: comment(v.id, a.id, 'new'), idempotencyKey: 'n' }], { now });
        const p2 = await store.videos.comments(v.id, 'newest', { cursor: p1.nextCursor, limit: 2 });
        assert.deepEqual(
          p2.items.map((c) => c.text),
          ['c2', 'c1'],
        );
        const p3 = await store.videos.comments(v.id, 'newest', { cursor: p2.nextCursor, limit: 2 });
        assert.deepEqual(
          p3.items.map((c) => c.text),
          ['c0'],
        );
        assert.equal(p3.nextCursor, undefined);
        const o1 = await store.videos.comments(v.id, 'oldest', { limit: 3 });
        assert.deepEqual(
          o1.items.map((c) => c.text),
          ['c0', 'c1', 'c2'],
        );
        await assert.rejects(store.videos.comments(v.id, 'oldest', { cursor: '!!nope', limit: 3 }), (e: TremoloError) => e.code === 'E_BAD_CURSOR');
      });

      it('keeps a capped event log and tells when an offset is out of reach', async () => {
        const a = await user();
        const v = await video(a.id);
        for (let i = 0; i < 30; i++) {
          await store.videos.applyOps(v.id, [{ type: 'view' }], { now });
        }
        const head = (await store.videos.get(v.id))!.log;
        assert.equal(head.offset, 30);
        const recent = await store.videos.events(v.id, 25, 100);
        assert.equal(recent.complete, true);
        assert.deepEqual(
          recent.events.map((e) => e.offset),
          [26, 27, 28, 29, 30],
        );
        assert.equal(recent.epoch, head.epoch);
        const limited = await store.videos.events(v.id, 25, 2);
        assert.deepEqual(
          limited.events.map((e) => e.offset),
          [26, 27],
        );
        const oldest = await store.videos.events(v.id, 30 - CONTRACT_LIMITS.eventLogMax, 100);
        assert.equal(oldest.complete, true);
        assert.equal(oldest.events.length, CONTRACT_LIMITS.eventLogMax);
        const gone = await store.videos.events(v.id, 2, 100);
        assert.equal(gone.complete, false);
        const upToDate = await store.videos.events(v.id, 30, 100);
        assert.equal(upToDate.complete, true);
        assert.deepEqual(upToDate.events, []);
      });

      it('deletes a video with its likes, comments and events', async () => {
        const a = await user();
        const v = await video(a.id);
        await store.videos.applyOps(
          v.id,
          [
            { type: 'like', userId: a.id },
            { type: 'comment', comment: comment(v.id, a.id), idempotencyKey: 'z' },
          ],
          { now },
        );
        assert.equal(await store.videos.delete(v.id), true);
        assert.equal(await store.videos.delete(v.id), false);
        assert.equal(await store.videos.get(v.id), null);
        assert.deepEqual(await store.videos.likedBy(v.id, [a.id]), [false]);
        await assert.rejects(store.videos.applyOps(v.id, [{ type: 'like', userId: a.id }], { now }), (e: TremoloError) => e.code === 'E_VIDEO_NOT_FOUND');
        await assert.rejects(store.videos.events(v.id, 0, 10), (e: TremoloError) => e.code === 'E_VIDEO_NOT_FOUND');
        assert.equal((await store.users.profile(a.id))?.videos, 0);
      });

      it('stores tagging and finds videos by tag', async () => {
        const a = await user();
        const v1 = await video(a.id);
        const v2 = await video(a.id);
        await store.videos.setTagging(v1.id, { tags: ['cats', 'speech'], speechRatio: 0.5 });
        await store.videos.setTagging(v2.id, { tags: ['cats'] });
        assert.deepEqual((await store.videos.get(v1.id))?.video.tagging, { tags: ['cats', 'speech'], speechRatio: 0.5 });
        const p1 = await store.videos.byTag('cats', { limit: 1 });
        assert.deepEqual(p1.items, [v2.id]);
        const p2 = await store.videos.byTag('cats', { limit: 1, cursor: p1.nextCursor });
        assert.deepEqual(p2.items, [v1.id]);
        assert.equal(p2.nextCursor, undefined);
        assert.deepEqual((await store.videos.byTag('speech', { limit: 5 })).items, [v1.id]);
        await store.videos.setTagging(v1.id, { tags: ['dogs'] });
        assert.deepEqual((await store.videos.byTag('speech', { limit: 5 })).items, []);
      });

      it('keeps OCR boxes, keyframe size and speech segments; indexes Chinese and multi-word tags', async () => {
        const a = await user();
        const v = await video(a.id);
        const tagging: TagInfo = {
          tags: ['travel', '美食', '第3期', 'game over', 'no-audio'],
          ocr: [{ text: '#Travel 美食探店第3期', confidence: 0.987, box: [[10, 20], [300, 18], [301, 60], [11, 62]] }],
          frame: { width: 640, height: 360 },
          speechRatio: 0.25,
          speechSegments: [{ startS: 0.5, endS: 1.25 }, { startS: 2, endS: 2.75 }],
        };
        await store.videos.setTagging(v.id, tagging);
        assert.deepEqual((await store.videos.get(v.id))?.video.tagging, tagging);
        assert.deepEqual((await store.videos.getMany([v.id]))[0]?.video.tagging, tagging);
        for (const tag of tagging.tags) assert.deepEqual((await store.videos.byTag(tag, { limit: 5 })).items, [v.id], tag);
        assert.deepEqual((await store.videos.byTag('game', { limit: 5 })).items, [], 'a tag is found whole, not by a word of it');
      });
    });

    describe('feeds', () => {
      it('pushes to inboxes, caps them and reads newest first', async () => {
        const [author, f1, f2] = [await user(), await user(), await user()];
        const vids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const v = await video(author.id);
          vids.push(v.id);
          await store.feeds.pushToInboxes([f1.id, f2.id], { videoId: v.id, authorId: author.id }, 3);
        }
        const inbox = await store.feeds.inbox(f1.id, undefined, 10);
        assert.deepEqual(
          inbox.map((e) => e.videoId),
          vids.slice(2).reverse(),
        );
        assert.equal(inbox[0]?.authorId, author.id);
        const older = await store.feeds.inbox(f1.id, vids[4], 10);
        assert.deepEqual(
          older.map((e) => e.videoId),
          [vids[3], vids[2]],
        );
        assert.deepEqual(
          await store.feeds.outbox(author.id, vids[2], 10),
          [vids[1], vids[0]],
        );
      });

      it('ranks hot videos by score', async () => {
        const a = await user();
        const [v1, v2, v3] = [await video(a.id), await video(a.id), await video(a.id)];
        await store.feeds.setHotScore(v1.id, 1e9 + 1);
        await store.feeds.setHotScore(v2.id, 1e9 + 3);
        await store.feeds.setHotScore(v3.id, 1e9 + 2);
        const top = await store.feeds.hot(0, 3);
        assert.deepEqual(top, [v2.id, v3.id, v1.id]);
        await store.feeds.setHotScore(v2.id, null);
        assert.deepEqual(await store.feeds.hot(0, 2), [v3.id, v1.id]);
      });
    });

    describe('fan-out queue', () => {
      const LEASE = 60_000;
      const task = async (at = Date.now()) => {
        const author = await user();
        return { videoId: (await video(author.id)).id, authorId: author.id, at };
      };

      it('claims each new entry once, keeps a held entry from others, hands a lapsed or given-back one over with its cursor, and completes', async () => {
        const q = store.fanout;
        // the post's trace context goes with its entry, to whichever consumer holds it
        const t1 = { ...(await task(1_700_000_000_000)), traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=abc' };
        const t2 = { ...(await task(1_700_000_000_500)), traceparent: '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-00' };
        const e1 = await q.enqueue(t1, 100);
        const e2 = await q.enqueue(t2, 100);
        assert.notEqual(e1.id, e2.id);
        assert.equal(e2.waiting, 2);
        assert.deepEqual(await q.lag(), { waiting: 2, oldestAt: t1.at });

        const [a] = await q.claim('a', { limit: 1, leaseMs: LEASE, now: Date.now() });
        assert.deepEqual(a, { id: e1.id, task: t1, resumed: false });
        assert.deepEqual(await q.claim('b', { limit: 5, leaseMs: LEASE, now: Date.now() }), [{ id: e2.id, task: t2, resumed: false }], 'the held entry is not offered');
        assert.deepEqual(await q.claim('c', { limit: 5, leaseMs: LEASE, now: Date.now() }), [], 'nothing new, nothing lapsed');

        assert.equal(await q.progress(e1.id, 'a', 'page-2', { now: Date.now() }), true);
        assert.equal(await q.progress(e1.id, 'b', 'page-9', { now: Date.now() }), false, 'only the holder records progress');
        // a lease of 0: every held entry counts as lapsed
        const taken = await q.claim('b', { limit: 1, leaseMs: 0, now: Date.now() });
        assert.deepEqual(taken, [{ id: e1.id, task: t1, cursor: 'page-2', resumed: true }], 'taken over from the page reached');
        assert.equal(await q.progress(e1.id, 'a', 'page-3', { now: Date.now() }), false, 'the old holder lost it');
        assert.equal(await q.progress(e1.id, 'b', 'page-3', { now: Date.now() }), true);

        assert.equal(await q.release(e2.id, 'a', { leaseMs: LEASE, now: Date.now() }), false, 'only the holder gives back');
        assert.equal(await q.release(e2.id, 'b', { leaseMs: LEASE, now: Date.now() }), true);
        assert.deepEqual(await q.claim('c', { limit: 5, leaseMs: LEASE, now: Date.now() }), [{ id: e2.id, task: t2, resumed: true }], 'given back: claimable at once');

        await q.complete(e1.id);
        await q.complete(e2.id);
        await q.complete(e2.id); // idempotent
        assert.equal(await q.progress(e1.id, 'b', 'page-4', { now: Date.now() }), false, 'done: nobody holds it');
        assert.deepEqual(await q.claim('d', { limit: 5, leaseMs: 0, now: Date.now() }), []);
        assert.deepEqual(await q.lag(), { waiting: 0, oldestAt: null });
      });

      it('is bounded: with `max` entries waiting (held ones included) an enqueue fails with E_BUSY and queues nothing', async () => {
        const q = store.fanout;
        const first = await q.enqueue(await task(), 2);
        await q.claim('a', { limit: 1, leaseMs: LEASE, now: Date.now() });
        const second = await q.enqueue(await task(), 2);
        await assert.rejects(
          q.enqueue(await task(), 2),
          (e: unknown) => e instanceof TremoloError && e.code === 'E_BUSY' && e.retryAfter === 1,
        );
        assert.equal((await q.lag()).waiting, 2);
        await q.complete(first.id);
        const third = await q.enqueue(await task(), 2);
        assert.equal(third.waiting, 2);
        for (const e of [second, third]) await q.complete(e.id);
        assert.deepEqual(await q.lag(), { waiting: 0, oldestAt: null });
      });
    });

    // Offsets and positions come from client cursors: whatever they hold, every driver
    // answers the same E_BAD_CURSOR (never a server error) or an empty page.
    recommendationsContract(() => store);

    describe('cursors from clients', () => {
      const badCursor = (e: TremoloError) => e instanceof TremoloError && e.code === 'E_BAD_CURSOR';

      it('refuses hot-feed offsets that are not non-negative safe integers with E_BAD_CURSOR', async () => {
        const a = await user();
        await store.feeds.setHotScore((await video(a.id)).id, 5);
        // 1e21 is an integer to JavaScript but "1e+21" to Redis; 2^63 is past Redis's range
        for (const offset of [1e21, 2 ** 63, 2 ** 53, 1e300, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(store.feeds.hot(offset, 21), badCursor, `offset ${offset}`);
        }
      });

      it('answers an empty page for a valid offset past the end', async () => {
        assert.deepEqual(await store.feeds.hot(Number.MAX_SAFE_INTEGER, 21), []);
        assert.deepEqual(await store.feeds.hot(1_000_000, 21), []);
      });

      it('refuses malformed page cursors and takes odd positions as plain positions', async () => {
        const a = await user();
        const v = await video(a.id);
        for (const cursor of ['!!', 'bm90IGpzb24', Buffer.from('[1,2]').toString('base64url'), Buffer.from('[12]').toString('base64url')]) {
          await assert.rejects(store.videos.comments(v.id, 'newest', { cursor, limit: 5 }), badCursor, cursor);
          await assert.rejects(store.users.followers(a.id, { cursor, limit: 5 }), badCursor, cursor);
          await assert.rejects(store.videos.byTag('any', { cursor, limit: 5 }), badCursor, cursor);
        }
        // positions that mean something to Redis's lex ranges are just strings
        for (const position of ['[', '(', '-', '+', '\u0000', 'x'.repeat(300)]) {
          const cursor = Buffer.from(JSON.stringify([position])).toString('base64url');
          assert.deepEqual((await store.videos.byTag('any', { cursor, limit: 5 })).items, [], position);
          assert.ok(Array.isArray((await store.videos.comments(v.id, 'oldest', { cursor, limit: 5 })).items), position);
          assert.ok(Array.isArray((await store.users.following(a.id, { cursor, limit: 5 })).items), position);
        }
      });
    });

    describe('jobs', () => {
      const job = (id: string) => ({
        id,
        ownerId: 'o',
        uploadId: 'u',
        title: 't',
        description: '',
        stage: 'queued' as const,
        percent: 0,
        attempts: 0,
        createdAt: new Date(now).toISOString(),
        updatedAt: new Date(now).toISOString(),
      });

      it('claims the oldest job once, renews, and hands lapsed leases to another owner', async () => {
        const j1 = job(ids.next());
        await store.jobs.create(j1);
        const opts = { now, leaseMs: 1000, maxAttempts: 2 };
        const claimed = await store.jobs.claim('A', opts);
        assert.equal(claimed?.id, j1.id);
        assert.equal(claimed?.attempts, 1);
        assert.equal(await store.jobs.claim('B', opts), null, 'held by A');
        assert.equal(await store.jobs.renew(j1.id, 'A', { now: now + 500, leaseMs: 1000 }), true);
        assert.equal(await store.jobs.claim('B', { ...opts, now: now + 1400 }), null, 'renewed');
        const taken = await store.jobs.claim('B', { ...opts, now: now + 1600 });
        assert.equal(taken?.leaseOwner, 'B');
        assert.equal(taken?.attempts, 2);
        assert.equal(await store.jobs.renew(j1.id, 'A', { now: now + 1700, leaseMs: 1000 }), false);
        assert.equal(await store.jobs.update(j1.id, { percent: 50 }, { now, owner: 'A' }), null, 'A lost the lease');
        const updated = await store.jobs.update(j1.id, { stage: 'transcoding', percent: 50 }, { now, owner: 'B' });
        assert.equal(updated?.stage, 'transcoding');
        // B dies: after max attempts the job is failed, never running forever
        assert.equal(await store.jobs.claim('C', { ...opts, now: now + 5000 }), null);
        const failed = await store.jobs.get(j1.id);
        assert.equal(failed?.stage, 'failed');
        assert.ok(failed?.error);
      });

      it('a released lease is claimable at once, without counting the interrupted attempt', async () => {
        const j = job(ids.next());
        await store.jobs.create(j);
        const opts = { now, leaseMs: 60_000, maxAttempts: 1 };
        assert.equal((await store.jobs.claim('A', opts))?.attempts, 1);
        assert.equal(await store.jobs.release(j.id, 'B'), false, 'only the holder can release');
        assert.equal(await store.jobs.release(j.id, 'A'), true);
        assert.equal(await store.jobs.release(j.id, 'A'), false, 'released already');
        const again = await store.jobs.claim('B', opts); // long before A's lease would have lapsed
        assert.equal(again?.leaseOwner, 'B');
        assert.equal(again?.attempts, 1, 'the attempt A gave back is not counted, so maxAttempts 1 still runs it');
        await store.jobs.update(j.id, { stage: 'failed', error: { code: 'E_X', message: 'x' } }, { now, owner: 'B' });
        assert.equal(await store.jobs.release(j.id, 'B'), false, 'a final job has no lease to give up');
      });

      it('keeps the trace context a job was created in through claims, takeovers and updates', async () => {
        const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
        const tracestate = 'vendor=abc,other=x1';
        const j = { ...job(ids.next()), traceparent, tracestate };
        await store.jobs.create(j);
        assert.equal((await store.jobs.get(j.id))?.traceparent, traceparent);
        assert.equal((await store.jobs.get(j.id))?.tracestate, tracestate);
        assert.equal((await store.jobs.claim('A', { now, leaseMs: 1000, maxAttempts: 3 }))?.traceparent, traceparent);
        const taken = await store.jobs.claim('B', { now: now + 2000, leaseMs: 1000, maxAttempts: 3 });
        assert.equal(taken?.traceparent, traceparent, 'the process taking over reads the same trace');
        assert.equal(taken?.tracestate, tracestate);
        assert.equal((await store.jobs.update(j.id, { stage: 'transcoding' }, { now, owner: 'B' }))?.traceparent, traceparent);
        const plain = job(ids.next());
        await store.jobs.create(plain);
        assert.equal((await store.jobs.get(plain.id))?.traceparent, undefined, 'absent when the job was made untraced');
        // end both, so the next test's claim finds its own job
        await store.jobs.update(j.id, { stage: 'cancelled' }, { now, owner: 'B' });
        await store.jobs.update(plain.id, { stage: 'cancelled' }, { now });
      });

      it('final stages end the lease; unknown jobs read as null', async () => {
        const j = job(ids.next());
        await store.jobs.create(j);
        await store.jobs.claim('A', { now, leaseMs: 1000, maxAttempts: 3 });
        const done = await store.jobs.update(j.id, { stage: 'ready', percent: 100, videoId: 'v' }, { now, owner: 'A' });
        assert.equal(done?.stage, 'ready');
        assert.equal(done?.leaseOwner, undefined);
        assert.equal(await store.jobs.renew(j.id, 'A', { now, leaseMs: 1000 }), false);
        assert.equal(await store.jobs.get('nope'), null);
        assert.equal(await store.jobs.update('nope', { percent: 1 }, { now }), null);
      });
    });

    describe('uploads (quota)', () => {
      const upload = (ownerId: string) => `${ownerId}-${ids.next().toLowerCase()}`;

      it('reserves within the quota, refuses past it with the bytes in use, per owner', async () => {
        const [a, b] = [ids.next(), ids.next()];
        assert.equal(await store.uploads.usedBytes(a), 0);
        assert.deepEqual(await store.uploads.reserve(a, upload(a), 600, 1000), { ok: true, usedBytes: 600 });
        assert.deepEqual(await store.uploads.reserve(a, upload(a), 400, 1000), { ok: true, usedBytes: 1000 }, 'up to the quota exactly');
        assert.deepEqual(await store.uploads.reserve(a, upload(a), 1, 1000), { ok: false, usedBytes: 1000 });
        assert.deepEqual(await store.uploads.reserve(b, upload(b), 1000, 1000), { ok: true, usedBytes: 1000 }, 'another owner has their own');
        assert.deepEqual(await store.uploads.reserve(b, upload(b), 1001, 1000 * 1000), { ok: true, usedBytes: 2001 });
        assert.equal(await store.uploads.usedBytes(a), 1000);
      });

      it('reserving an upload again changes nothing, even at the quota', async () => {
        const a = ids.next();
        const id = upload(a);
        assert.equal((await store.uploads.reserve(a, id, 700, 1000)).ok, true);
        assert.deepEqual(await store.uploads.reserve(a, id, 700, 1000), { ok: true, usedBytes: 700 });
        assert.deepEqual(await store.uploads.reserve(a, id, 900, 1000), { ok: true, usedBytes: 700 }, 'the first size stands');
      });

      it('parallel reservations never overshoot the quota', async () => {
        const a = ids.next();
        // twelve 500-byte uploads at once against a quota of 2,000: exactly four fit
        const results = await Promise.all(Array.from({ length: 12 }, () => store.uploads.reserve(a, upload(a), 500, 2000)));
        assert.equal(results.filter((r) => r.ok).length, 4);
        assert.ok(results.every((r) => r.usedBytes <= 2000));
        assert.equal(await store.uploads.usedBytes(a), 2000);
      });

      it('keeps the reservation while a video shows the upload\'s media, and releases it after the last one', async () => {
        const a = ids.next();
        const id = upload(a);
        const [v1, v2] = [ids.next(), ids.next()];
        assert.equal(await store.uploads.addVideo(a, id, v1), false, 'no reservation, no video');
        await store.uploads.reserve(a, id, 300, 1000);
        assert.equal(await store.uploads.addVideo(a, id, v1), true);
        assert.equal(await store.uploads.addVideo(a, id, v1), true, 'idempotent');
        assert.equal(await store.uploads.addVideo(a, id, v2), true);
        assert.deepEqual(await store.uploads.videos(a, id), [v1, v2].sort());

        assert.equal(await store.uploads.release(a, id), 'held');
        assert.equal(await store.uploads.usedBytes(a), 300, 'held: nothing changed');
        assert.equal(await store.uploads.removeVideo(a, id, v1), 1);
        assert.equal(await store.uploads.removeVideo(a, id, v1), 1, 'removing twice counts once');
        assert.equal(await store.uploads.release(a, id), 'held');
        assert.equal(await store.uploads.removeVideo(a, id, v2), 0);
        assert.deepEqual(await store.uploads.videos(a, id), []);

        assert.equal(await store.uploads.release(a, id), 'released');
        assert.equal(await store.uploads.usedBytes(a), 0);
        assert.equal(await store.uploads.release(a, id), 'absent', 'released once');
        assert.equal(await store.uploads.addVideo(a, id, v1), false, 'a released upload takes no video');
        assert.equal(await store.uploads.removeVideo(a, id, v1), 0);
        assert.deepEqual(await store.uploads.reserve(a, upload(a), 1000, 1000), { ok: true, usedBytes: 1000 }, 'the bytes are free again');
      });

      it('of parallel removals of an upload\'s videos exactly one sees none left', async () => {
        const a = ids.next();
        const id = upload(a);
        await store.uploads.reserve(a, id, 10, 1000);
        const videos = Array.from({ length: 8 }, () => ids.next());
        for (const v of videos) await store.uploads.addVideo(a, id, v);
        const left = await Promise.all(videos.map((v) => store.uploads.removeVideo(a, id, v)));
        assert.equal(left.filter((n) => n === 0).length, 1);
      });
    });

    describe('uploads (lock and job link)', () => {
      const upload = () => `${ids.next()}-${ids.next().toLowerCase()}`;

      it('one token holds the lock; renewal tells it of a waiting request; only its token unlocks', async () => {
        const id = upload();
        assert.equal(await store.uploads.lock(id, 'a', 10_000), true);
        assert.equal(await store.uploads.lock(id, 'b', 10_000), false, 'held by another token');
        assert.equal(await store.uploads.renewLock(id, 'a', 10_000), 'held');
        assert.equal(await store.uploads.renewLock(id, 'b', 10_000), 'lost', 'not the holder');
        await store.uploads.requestUnlock(id, 10_000);
        assert.equal(await store.uploads.renewLock(id, 'a', 10_000), 'release-requested');
        await store.uploads.unlock(id, 'b');
        assert.equal(await store.uploads.lock(id, 'b', 10_000), false, 'a stranger cannot unlock');
        await store.uploads.unlock(id, 'a');
        assert.equal(await store.uploads.lock(id, 'b', 10_000), true);
        assert.equal(await store.uploads.renewLock(id, 'b', 10_000), 'held', 'taking the lock clears the old request');
      });

      it('a lock not renewed lapses', async () => {
        const id = upload();
        assert.equal(await store.uploads.lock(id, 'a', 50), true);
        await eventually(async () => store.uploads.lock(id, 'b', 10_000), 'the lapsed lock to be free', 5000);
        assert.equal(await store.uploads.renewLock(id, 'a', 10_000), 'lost');
      });

      it('links one job per upload: the first wins, unlinking frees it', async () => {
        const id = upload();
        assert.equal(await store.uploads.jobOf(id), null);
        const [x, y] = await Promise.all([store.uploads.linkJob(id, 'job-x'), store.uploads.linkJob(id, 'job-y')]);
        assert.equal(x, y, 'both learn the same winner');
        assert.equal(await store.uploads.jobOf(id), x);
        await store.uploads.unlinkJob(id);
        assert.equal(await store.uploads.jobOf(id), null);
        assert.equal(await store.uploads.linkJob(id, 'job-z'), 'job-z');
      });
    });

    conversationsContract(() => store, CONTRACT_LIMITS.dmLogMax);
    describe('interactions (the behaviour log)', () => {
      /** A store of its own, so the log holds only this test's events. */
      const withStore = async (interactions: InteractionLimits, body: (s: Store) => Promise<void>) => {
        const opened = await open({ ...CONTRACT_LIMITS, interactions });
        try {
          await body(opened.store);
        } finally {
          await opened.cleanup();
        }
      };
      const seed = async (s: Store) => {
        const mk = (): UserRecord => ({ id: ids.next(), handle: `i${ids.next().toLowerCase()}`, displayName: 'x', bio: '', createdAt: new Date().toISOString(), passwordHash: 'x' });
        const [a, b] = [mk(), mk()];
        await s.users.create(a);
        await s.users.create(b);
        const v: VideoRecord = { id: ids.next(), ownerId: b.id, title: 't', description: '', createdAt: new Date().toISOString(), media: {} };
        await s.videos.create(v);
        return { a, b, v };
      };
      const readAll = async (s: Store): Promise<InteractionEvent[]> => {
        const page = await s.interactions.read(null, 10_000);
        return [...page.events].sort((x, y) => (x.id < y.id ? -1 : 1));
      };
      const BIG = { max: 1000, hold: true, entryEvents: INTERACTION_ENTRY_MAX };

      it('records one event per interaction that took effect, in the same write, with a TSID and the write time', async () => {
        await withStore(BIG, async (s) => {
          const { a, b, v } = await seed(s);
          const c = comment(v.id, a.id);
          await s.videos.applyOps(v.id, [{ type: 'like', userId: a.id }, { type: 'like', userId: a.id }], { now });
          await s.videos.applyOps(v.id, [{ type: 'view', viewerId: a.id }, { type: 'view', viewerId: a.id }, { type: 'view', viewerId: '~anon1' }], { now });
          await s.videos.applyOps(v.id, [{ type: 'comment', comment: c, idempotencyKey: 'k' }, { type: 'comment', comment: c, idempotencyKey: 'k' }], { now });
          const kept = comment(v.id, b.id);
          await s.videos.applyOps(v.id, [{ type: 'comment', comment: kept, idempotencyKey: 'k2' }, { type: 'likeComment', commentId: kept.id, userId: a.id }, { type: 'likeComment', commentId: kept.id, userId: a.id }], { now });
          await s.videos.applyOps(v.id, [{ type: 'unlikeComment', commentId: kept.id, userId: a.id }, { type: 'pinComment', commentId: kept.id, userId: b.id }, { type: 'view' }], { now });
          await s.videos.applyOps(v.id, [{ type: 'deleteComment', commentId: c.id, userId: a.id }, { type: 'unlike', userId: a.id }, { type: 'unlike', userId: a.id }], { now });
          await s.users.applyOps(a.id, [{ type: 'follow', targetId: b.id }, { type: 'follow', targetId: b.id }, { type: 'unfollow', targetId: b.id }], { now });
          const events = await readAll(s);
          assert.deepEqual(
            events.map((e) => ({ ...e, id: undefined })),
            [
              { type: 'like', userId: a.id, videoId: v.id },
              { type: 'view', userId: a.id, videoId: v.id },
              { type: 'view', userId: a.id, videoId: v.id },
              { type: 'view', sessionId: 'anon1', videoId: v.id },
              { type: 'comment', userId: a.id, videoId: v.id, commentId: c.id },
              { type: 'comment', userId: b.id, videoId: v.id, commentId: kept.id },
              { type: 'comment_like', userId: a.id, videoId: v.id, commentId: kept.id },
              { type: 'comment_unlike', userId: a.id, videoId: v.id, commentId: kept.id },
              { type: 'view', videoId: v.id },
              { type: 'comment_delete', userId: a.id, videoId: v.id, commentId: c.id },
              { type: 'unlike', userId: a.id, videoId: v.id },
              { type: 'follow', userId: a.id, targetId: b.id },
              { type: 'unfollow', userId: a.id, targetId: b.id },
            ].map((e) => ({ v: 1, at: now, ...e, id: undefined })),
          );
          assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');
          assert.ok(events.every((e) => /^[0-9A-Z]{13}$/.test(e.id)));
        });
      });

      it('records watch progress and impressions of existing videos; an unknown video refuses the whole call', async () => {
        await withStore(BIG, async (s) => {
          const { a, v } = await seed(s);
          const watch: InteractionEvent = { v: 1, id: ids.next(), type: 'watch', at: now, userId: a.id, videoId: v.id, watchedMs: 4000, positionMs: 4000, durationMs: 8000, completed: false };
          const seen: InteractionEvent = { v: 1, id: ids.next(), type: 'impression', at: now, userId: a.id, videoId: v.id, feed: 'hot', position: 3 };
          await s.interactions.record([watch, seen]);
          const ghost: InteractionEvent = { ...watch, id: ids.next(), videoId: '0000000000000' };
          await assert.rejects(s.interactions.record([{ ...watch, id: ids.next() }, ghost]), (e: unknown) => e instanceof TremoloError && e.code === 'E_VIDEO_NOT_FOUND');
          assert.deepEqual(await readAll(s), [watch, seen]);
        });
      });

      it('reads on from a position, and trims only what was read', async () => {
        await withStore(BIG, async (s) => {
          const { a, v } = await seed(s);
          for (let i = 0; i < 5; i++) await s.videos.applyOps(v.id, [{ type: 'view' }], { now });
          const first = await s.interactions.read(null, 2);
          assert.equal(first.events.length, 2);
          await s.users.applyOps(a.id, [{ type: 'follow', targetId: v.ownerId }], { now });
          const rest = await s.interactions.read(first.position, 100);
          assert.equal(rest.events.length, 4);
          const seenIds = [...first.events, ...rest.events].map((e) => e.id);
          assert.equal(new Set(seenIds).size, 6, 'no event twice');
          assert.deepEqual((await s.interactions.read(rest.position, 100)).events, [], 'nothing after the end');
          assert.deepEqual(await s.interactions.lag(), { total: 6, fullest: s.driver === 'memory' ? 6 : 5 });
          await s.interactions.trim(first.position);
          assert.equal((await s.interactions.lag()).total, 4);
          assert.deepEqual((await s.interactions.read(null, 100)).events.map((e) => e.id).sort(), rest.events.map((e) => e.id).sort());
          await s.interactions.trim(rest.position);
          assert.equal((await s.interactions.lag()).total, 0);
          await assert.rejects(s.interactions.read('not a position', 1), (e: unknown) => e instanceof TremoloError && e.code === 'E_BAD_CURSOR');
        });
      });

      it('hold mode: a write that would overflow the log is refused whole with E_EXPORT_BACKLOG, and accepted again after a trim', async () => {
        await withStore({ max: 3, hold: true, entryEvents: INTERACTION_ENTRY_MAX }, async (s) => {
          const { a, b, v } = await seed(s);
          await s.videos.applyOps(v.id, [{ type: 'view' }, { type: 'view' }], { now });
          const full = (e: unknown) => e instanceof TremoloError && e.code === 'E_EXPORT_BACKLOG' && e.status === 503 && e.retryAfter !== undefined;
          await assert.rejects(s.videos.applyOps(v.id, [{ type: 'view' }, { type: 'like', userId: a.id }], { now }), full);
          assert.deepEqual((await s.videos.get(v.id))?.counters, { likes: 0, comments: 0, views: 2, version: 2 }, 'nothing of the refused turn');
          if (s.driver === 'memory') {
            // one stream in memory; on Redis the follower's stream is another slot's
            await assert.rejects(s.users.applyOps(a.id, [{ type: 'follow', targetId: b.id }, { type: 'follow', targetId: v.ownerId }], { now }), full);
          }
          const page = await s.interactions.read(null, 10);
          assert.equal(page.events.length, 2);
          await s.interactions.trim(page.position);
          await s.videos.applyOps(v.id, [{ type: 'view' }, { type: 'like', userId: a.id }], { now });
          assert.equal((await s.videos.get(v.id))?.counters.likes, 1);
        });
      });

      it('hold mode: the events of one write are one entry: the bound and the lag count its events, the export group delivers it whole', async () => {
        await withStore({ max: 5, hold: true, entryEvents: INTERACTION_ENTRY_MAX }, async (s) => {
          const { v } = await seed(s);
          const views = (n: number) => Array.from({ length: n }, () => ({ type: 'view' as const }));
          await s.videos.applyOps(v.id, views(3), { now });
          assert.equal((await s.interactions.lag()).total, 3);
          const full = (e: unknown) => e instanceof TremoloError && e.code === 'E_EXPORT_BACKLOG';
          await assert.rejects(s.videos.applyOps(v.id, views(3), { now }), full, '3 + 3 events do not fit in 5');
          await s.videos.applyOps(v.id, views(1), { now: now + 1 });
          const d = await s.interactions.deliver('A', 1, { now });
          assert.deepEqual(d.events.map((e) => e.at), [now, now, now], 'the entry goes whole past the limit, and no further');
          const page = await s.interactions.read(null, 2);
          assert.equal(page.events.length, 2);
          await s.interactions.trim(page.position);
          assert.equal((await s.interactions.lag()).total, 4, 'an entry read in part is not trimmed');
          await s.interactions.ack(d.receipt);
          assert.equal((await s.interactions.lag()).total, 1);
          const rest = await s.interactions.deliver('A', 10, { now });
          assert.deepEqual(rest.events.map((e) => e.at), [now + 1]);
          await s.interactions.ack(rest.receipt);
          assert.equal((await s.interactions.lag()).total, 0);
        });
      });

      it('entries hold at most entryEvents (EXPORT_ENTRY_EVENTS): 1 keeps every event its own entry, 2 splits a write in twos, for every kind of write', async () => {
        for (const [entryEvents, sizes] of [
          [1, { views: [1, 1, 1, 1, 1], follows: [1, 1, 1], reports: [1, 1, 1] }],
          [2, { views: [2, 2, 1], follows: [2, 1], reports: [2, 1] }],
        ] as const) {
          await withStore({ max: 100, hold: true, entryEvents }, async (s) => {
            const { a, v } = await seed(s);
            /** The sizes of the deliveries of one event each until the log is empty: whole entries, so each is one entry. */
            const drain = async () => {
              const got: number[] = [];
              for (let d = await s.interactions.deliver('A', 1, { now }); d.events.length > 0; d = await s.interactions.deliver('A', 1, { now })) {
                got.push(d.events.length);
                await s.interactions.ack(d.receipt);
              }
              assert.deepEqual(await s.interactions.lag(), { total: 0, fullest: 0 });
              return got;
            };
            await s.videos.applyOps(v.id, Array.from({ length: 5 }, (_, i) => ({ type: 'view' as const, viewerId: `~s${i}` })), { now });
            assert.equal((await s.interactions.lag()).total, 5, 'the bound counts events however they are stored');
            assert.deepEqual(await drain(), sizes.views, `views, entryEvents ${entryEvents}`);
            const targets = [await seed(s), await seed(s), await seed(s)].map((x) => x.a.id);
            await s.users.applyOps(a.id, targets.map((targetId) => ({ type: 'follow' as const, targetId })), { now });
            assert.deepEqual(await drain(), sizes.follows, `follows, entryEvents ${entryEvents}`);
            const watch = (): InteractionEvent => ({ v: 1, id: ids.next(), type: 'watch', at: now, userId: a.id, videoId: v.id, watchedMs: 1000, positionMs: 1000, durationMs: 8000, completed: false });
            await s.interactions.record([watch(), watch(), watch()]);
            assert.deepEqual(await drain(), sizes.reports, `reported events, entryEvents ${entryEvents}`);
          });
        }
      });

      it('export group: each event goes to one consumer, an idle one\'s batch is taken over, and only what the group acknowledged is trimmed', async () => {
        await withStore(BIG, async (s) => {
          const { v } = await seed(s);
          for (let i = 0; i < 6; i++) await s.videos.applyOps(v.id, [{ type: 'view' }], { now: now + i });
          const at = { now };
          const a = await s.interactions.deliver('A', 2, at);
          const b = await s.interactions.deliver('B', 10, at);
          assert.deepEqual(a.events.map((e) => e.at), [now, now + 1], 'oldest first');
          assert.deepEqual(b.events.map((e) => e.at), [now + 2, now + 3, now + 4, now + 5], 'the rest, none twice');
          assert.deepEqual((await s.interactions.deliver('A', 10, at)).events, [], 'nothing new');
          await s.interactions.ack(b.receipt);
          assert.equal((await s.interactions.lag()).total, 6, "A's older events are pending: nothing is trimmed past them");
          assert.deepEqual((await s.interactions.deliver('C', 10, { now, claimIdleMs: 60_000 })).events, [], 'A is not idle long enough');
          const c = await s.interactions.deliver('C', 10, { now: now + 1, claimIdleMs: 0 });
          assert.deepEqual(c.events.map((e) => e.id), a.events.map((e) => e.id), "C takes A's batch over");
          await s.interactions.ack(a.receipt); // A was only slow: its late ack counts, C's is then harmless
          assert.equal((await s.interactions.lag()).total, 0, 'all acknowledged: all trimmed');
          await s.interactions.ack(c.receipt);
          await s.videos.applyOps(v.id, [{ type: 'view' }], { now: now + 9 });
          const next = await s.interactions.deliver('B', 10, at);
          assert.deepEqual(next.events.map((e) => e.at), [now + 9]);
          await s.interactions.ack(next.receipt);
          assert.equal((await s.interactions.lag()).total, 0);
          await assert.rejects(s.interactions.ack('not a receipt'), (e: unknown) => e instanceof TremoloError && e.code === 'E_BAD_CURSOR');
        });
      });

      it("export group: a takeover takes other consumers' idle events, whole entries up to its limit, and never the taker's own", async () => {
        await withStore(BIG, async (s) => {
          const { v } = await seed(s);
          for (let i = 0; i < 6; i++) await s.videos.applyOps(v.id, [{ type: 'view' }], { now: now + i });
          const at = { now };
          const a = await s.interactions.deliver('A', 3, at);
          const b = await s.interactions.deliver('B', 3, at);
          const later = { now: now + 1, claimIdleMs: 0 };
          // A's own batch is on its way: claiming it back would put it in A's next batch a second time
          const claimedByA = await s.interactions.deliver('A', 10, later);
          assert.deepEqual(claimedByA.events.map((e) => e.id), b.events.map((e) => e.id), "A takes B's idle events, none of its own");
          await s.interactions.ack(claimedByA.receipt);
          assert.deepEqual((await s.interactions.deliver('B', 10, later)).events.map((e) => e.id), a.events.map((e) => e.id), "B takes A's over, none of its own");
          assert.deepEqual((await s.interactions.deliver('A', 10, later)).events.map((e) => e.id), a.events.map((e) => e.id), 'and A, alive after all, takes them back from B');
          const c = await s.interactions.deliver('C', 1, later);
          assert.deepEqual(c.events.map((e) => e.id), [a.events[0]!.id], 'up to the limit, oldest first');
          await s.interactions.ack(c.receipt);
          await s.interactions.ack(a.receipt);
          assert.equal((await s.interactions.lag()).total, 0);
        });
      });

      it('a job records its upload and every stage change once, in order, in the same write; a claim that gives up records failed', async () => {
        await withStore(BIG, async (s) => {
          const at = new Date(now).toISOString();
          const record = (id: string) => ({ id, ownerId: 'o1', uploadId: `u-${id}`, title: 't', description: '', stage: 'queued' as const, percent: 0, attempts: 0, createdAt: at, updatedAt: at });
          const j = record(ids.next());
          await s.jobs.create(j, { bytes: 1234, mime: 'video/mp4' });
          await s.jobs.claim('A', { now, leaseMs: 1000, maxAttempts: 3 });
          await s.jobs.update(j.id, { stage: 'probing', percent: 0 }, { now: now + 1, owner: 'A' });
          await s.jobs.update(j.id, { percent: 10 }, { now: now + 2, owner: 'A' });
          await s.jobs.update(j.id, { stage: 'probing', percent: 20 }, { now: now + 3, owner: 'A' });
          await s.jobs.update(j.id, { stage: 'transcoding', percent: 0 }, { now: now + 4, owner: 'A' });
          await s.jobs.update(j.id, { stage: 'ready', percent: 100, videoId: 'V1' }, { now: now + 5, owner: 'A' });
          assert.equal(await s.jobs.update(j.id, { stage: 'failed' }, { now: now + 6, owner: 'A' }), null, 'final: not A\'s any more');
          // a job whose attempts are used up is failed by the next claim, with its event
          const k = record(ids.next());
          await s.jobs.create(k);
          await s.jobs.claim('A', { now, leaseMs: 10, maxAttempts: 1 });
          assert.equal(await s.jobs.claim('B', { now: now + 100, leaseMs: 10, maxAttempts: 1 }), null);
          const events = await readAll(s);
          assert.deepEqual(
            events.map((e) => ({ ...e, id: undefined })),
            [
              { type: 'upload', at: now, jobId: j.id, uploadId: j.uploadId, bytes: 1234, mime: 'video/mp4' },
              { type: 'job_stage', at: now, jobId: j.id, stage: 'queued' },
              { type: 'job_stage', at: now + 1, jobId: j.id, stage: 'probing' },
              { type: 'job_stage', at: now + 4, jobId: j.id, stage: 'transcoding' },
              { type: 'job_stage', at: now + 5, jobId: j.id, stage: 'ready', videoId: 'V1' },
              { type: 'job_stage', at: now, jobId: k.id, stage: 'queued' },
              { type: 'job_stage', at: now + 100, jobId: k.id, stage: 'failed' },
            ].map((e) => ({ v: 1, userId: 'o1', ...e, id: undefined })),
          );
          assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');
        });
      });

      it('ring mode (no exporter): the oldest events go, the newest stay readable', async () => {
        await withStore({ max: 3, hold: false, entryEvents: INTERACTION_ENTRY_MAX }, async (s) => {
          const { v } = await seed(s);
          for (let i = 0; i < 5; i++) await s.videos.applyOps(v.id, [{ type: 'view' }], { now: now + i });
          const page = await s.interactions.read(null, 10);
          assert.deepEqual(page.events.map((e) => e.at), [now + 2, now + 3, now + 4]);
        });
      });
    });
  });
}
