/**
 * Store contract sections for comment threads, comment likes, the pinned comment and
 * favorites: called from storeContract, so they run against every driver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Comment, CommentView, VideoRecord } from '../../src/protocol/model.ts';
import type { Store, UserRecord, VideoOp } from '../../src/storage/store.ts';

export interface ThreadsContractHelpers {
  store: () => Store;
  user: () => Promise<UserRecord>;
  video: (ownerId: string) => Promise<VideoRecord>;
  ids: TsidGenerator;
}

const isCode = (code: string) => (e: unknown) => e instanceof TremoloError && e.code === code;

export function threadsContract(h: ThreadsContractHelpers): void {
  const { ids } = h;
  let clock = Date.parse('2026-11-01T00:00:00Z');
  /** A comment created `at` ms (comments carry their own time; `top` ranks by it). */
  const comment = (videoId: string, authorId: string, opts: { replyTo?: string; at?: number; text?: string } = {}): Comment => ({
    id: `${videoId}-${ids.next()}`,
    videoId,
    authorId,
    text: opts.text ?? 'hi',
    createdAt: new Date(opts.at ?? (clock += 1000)).toISOString(),
    ...(opts.replyTo ? { replyTo: opts.replyTo } : {}),
  });
  const apply = (videoId: string, ops: VideoOp[]) => h.store().videos.applyOps(videoId, ops, { now: clock });
  const add = async (videoId: string, c: Comment): Promise<Comment> => {
    const r = (await apply(videoId, [{ type: 'comment', comment: c, idempotencyKey: c.id }])).results[0]!;
    assert.ok(r.ok && r.type === 'comment', JSON.stringify(r));
    return r.comment;
  };
  const ids_ = (items: CommentView[]) => items.map((c) => c.id);

  describe('comment threads', () => {
    it('files a reply under its thread; a reply to a reply stays in that thread and names whom it answers', async () => {
      const [a, b, c] = [await h.user(), await h.user(), await h.user()];
      const v = await h.video(a.id);
      const top = await add(v.id, comment(v.id, a.id));
      const r1 = await add(v.id, comment(v.id, b.id, { replyTo: top.id }));
      assert.equal(r1.threadId, top.id);
      assert.equal(r1.replyTo, top.id);
      assert.equal(r1.replyToUserId, a.id);
      const r2 = await add(v.id, comment(v.id, c.id, { replyTo: r1.id }));
      assert.equal(r2.threadId, top.id, 'a reply to a reply joins the same thread');
      assert.equal(r2.replyTo, r1.id);
      assert.equal(r2.replyToUserId, b.id);
      assert.equal(top.threadId, undefined);

      const threads = await h.store().comments.threads(v.id, 'newest', { limit: 10 }, { now: clock });
      assert.deepEqual(ids_(threads.items), [top.id], 'only top-level comments');
      assert.equal(threads.items[0]!.replies, 2);
      assert.equal(threads.items[0]!.likes, 0);
      const replies = await h.store().comments.replies(v.id, top.id, { limit: 10 });
      assert.deepEqual(ids_(replies.items), [r1.id, r2.id], 'oldest first');
      assert.equal(replies.items[1]!.replyToUserId, b.id);
      // the flat list (old clients) still holds every comment, and the video counts them all
      assert.equal((await h.store().videos.comments(v.id, 'newest', { limit: 10 })).items.length, 3);
      assert.equal((await h.store().videos.get(v.id))?.counters.comments, 3);
      // the event log carries the reply with its thread fields
      const events = await h.store().videos.events(v.id, 0, 100);
      const added = events.events.filter((e) => e.type === 'comment:added');
      assert.equal(added.at(-1)?.type === 'comment:added' && added.at(-1)?.comment.threadId, top.id);
    });

    it('pages replies ("view N replies") and refuses a thread that is a reply or missing', async () => {
      const [a, b] = [await h.user(), await h.user()];
      const v = await h.video(a.id);
      const top = await add(v.id, comment(v.id, a.id));
      const replies: Comment[] = [];
      for (let i = 0; i < 5; i++) replies.push(await add(v.id, comment(v.id, b.id, { replyTo: top.id })));
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const p = await h.store().comments.replies(v.id, top.id, { limit: 2, cursor });
        seen.push(...ids_(p.items));
        cursor = p.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, replies.map((r) => r.id));
      await assert.rejects(h.store().comments.replies(v.id, replies[0]!.id, { limit: 2 }), isCode('E_COMMENT_NOT_FOUND'));
      await assert.rejects(h.store().comments.replies(v.id, `${v.id}-${ids.next()}`, { limit: 2 }), isCode('E_COMMENT_NOT_FOUND'));
      await assert.rejects(h.store().comments.replies(ids.next(), top.id, { limit: 2 }), isCode('E_VIDEO_NOT_FOUND'));
      await assert.rejects(h.store().comments.threads(ids.next(), 'newest', { limit: 2 }, { now: clock }), isCode('E_VIDEO_NOT_FOUND'));
    });

    it('deleting a reply takes it out of its thread; deleting a comment forgets its likes', async () => {
      const [a, b] = [await h.user(), await h.user()];
      const v = await h.video(a.id);
      const top = await add(v.id, comment(v.id, a.id));
      const r1 = await add(v.id, comment(v.id, b.id, { replyTo: top.id }));
      await apply(v.id, [{ type: 'likeComment', commentId: r1.id, userId: a.id }]);
      await apply(v.id, [{ type: 'deleteComment', commentId: r1.id, userId: b.id }]);
      const threads = await h.store().comments.threads(v.id, 'newest', { limit: 10 }, { now: clock });
      assert.equal(threads.items[0]!.replies, 0);
      assert.deepEqual((await h.store().comments.replies(v.id, top.id, { limit: 10 })).items, []);
      const r = await apply(v.id, [{ type: 'likeComment', commentId: r1.id, userId: a.id }]);
      assert.deepEqual(r.results[0], { ok: false, code: 'E_COMMENT_NOT_FOUND' });
    });
  });

  describe('comment likes', () => {
    it('are idempotent per (user, comment) with exact counts, likedByMe, and one counter event per comment per turn', async () => {
      const [a, b, c] = [await h.user(), await h.user(), await h.user()];
      const v = await h.video(a.id);
      const x = await add(v.id, comment(v.id, a.id));
      const y = await add(v.id, comment(v.id, b.id));
      const r = await apply(v.id, [
        { type: 'likeComment', commentId: x.id, userId: b.id },
        { type: 'likeComment', commentId: x.id, userId: b.id },
        { type: 'likeComment', commentId: x.id, userId: c.id },
        { type: 'likeComment', commentId: y.id, userId: a.id },
        { type: 'unlikeComment', commentId: y.id, userId: a.id },
        { type: 'unlikeComment', commentId: y.id, userId: a.id },
      ]);
      assert.deepEqual(
        r.results.map((x) => (x.ok && (x.type === 'likeComment' || x.type === 'unlikeComment') ? [x.changed, x.likes, x.authorId] : x)),
        [
          [true, 1, a.id],
          [false, 1, a.id],
          [true, 2, a.id],
          [true, 1, b.id],
          [true, 0, b.id],
          [false, 0, b.id],
        ],
      );
      assert.deepEqual(
        r.events.map((e) => (e.type === 'comment:counters' ? [e.commentId, e.likes] : e.type)),
        [
          [x.id, 2],
          [y.id, 0],
        ],
        'one comment:counters per changed comment, and no video counters event (video counters did not change)',
      );
      assert.deepEqual(r.counters, (await h.store().videos.get(v.id))?.counters);
      const page = await h.store().comments.threads(v.id, 'newest', { limit: 10, viewerId: c.id }, { now: clock });
      assert.deepEqual(
        page.items.map((i) => [i.id, i.likes, i.likedByMe]),
        [
          [y.id, 0, false],
          [x.id, 2, true],
        ],
      );
      const anonymous = await h.store().comments.threads(v.id, 'newest', { limit: 10 }, { now: clock });
      assert.equal(anonymous.items[0]!.likedByMe, undefined);
      const missing = await apply(v.id, [{ type: 'likeComment', commentId: `${v.id}-${ids.next()}`, userId: a.id }]);
      assert.deepEqual(missing.results[0], { ok: false, code: 'E_COMMENT_NOT_FOUND' });
    });

    it('count exactly under concurrent turns from many users', async () => {
      const a = await h.user();
      const v = await h.video(a.id);
      const x = await add(v.id, comment(v.id, a.id));
      const users = Array.from({ length: 30 }, () => ids.next());
      await Promise.all(users.map((u) => apply(v.id, [{ type: 'likeComment', commentId: x.id, userId: u }, { type: 'likeComment', commentId: x.id, userId: u }])));
      await Promise.all(users.slice(0, 10).map((u) => apply(v.id, [{ type: 'unlikeComment', commentId: x.id, userId: u }])));
      const page = await h.store().comments.threads(v.id, 'newest', { limit: 1 }, { now: clock });
      assert.equal(page.items[0]!.likes, 20);
    });
  });

  describe('comment ordering by top', () => {
    it('ranks by log2(1 + likes) + createdAt / halfLife: a doubling of likes is worth one half-life of age', async () => {
      const a = await h.user();
      const v = await h.video(a.id);
      const base = clock;
      const halfLifeMs = 21600 * 1000;
      const old = await add(v.id, comment(v.id, a.id, { at: base }));
      const newer = await add(v.id, comment(v.id, a.id, { at: base + halfLifeMs / 2 }));
      const newest = await add(v.id, comment(v.id, a.id, { at: base + halfLifeMs * 2 }));
      // old: 7 likes -> log2(8) = 3 half-lives of credit; newer: 1 like -> 1 + 0.5; newest: 0 + 2
      await apply(v.id, Array.from({ length: 7 }, () => ({ type: 'likeComment' as const, commentId: old.id, userId: ids.next() })));
      await apply(v.id, [{ type: 'likeComment', commentId: newer.id, userId: ids.next() }]);
      const page = await h.store().comments.threads(v.id, 'top', { limit: 10 }, { now: clock });
      assert.deepEqual(ids_(page.items), [old.id, newest.id, newer.id]);
      assert.equal(page.nextCursor, undefined);
    });

    it('pages a frozen ranking: likes that change between pages neither repeat nor skip a comment', async () => {
      const a = await h.user();
      const v = await h.video(a.id);
      const made: Comment[] = [];
      for (let i = 0; i < 9; i++) made.push(await add(v.id, comment(v.id, a.id)));
      const first = await h.store().comments.threads(v.id, 'top', { limit: 3 }, { now: clock });
      assert.equal(first.items.length, 3);
      // the last comment of the ranking jumps to the top; the first falls to the bottom
      const last = made[0]!.id;
      await apply(v.id, Array.from({ length: 20 }, () => ({ type: 'likeComment' as const, commentId: last, userId: ids.next() })));
      const seen = ids_(first.items);
      let cursor = first.nextCursor;
      while (cursor) {
        const p = await h.store().comments.threads(v.id, 'top', { limit: 3, cursor }, { now: clock });
        seen.push(...ids_(p.items));
        cursor = p.nextCursor;
      }
      assert.equal(seen.length, 9);
      assert.equal(new Set(seen).size, 9, 'no repeats');
      assert.deepEqual([...seen].sort(), made.map((c) => c.id).sort(), 'no skips');
      const fresh = await h.store().comments.threads(v.id, 'top', { limit: 1 }, { now: clock });
      assert.equal(fresh.items[0]!.id, last, 'a new first page ranks by the likes now');
      assert.equal(fresh.items[0]!.likes, 20);
    });

    it('refuses a malformed cursor, or one whose ranking is unknown', async () => {
      const a = await h.user();
      const v = await h.video(a.id);
      const bogus = Buffer.from(JSON.stringify(['00000000-0000-0000-0000-000000000000@3'])).toString('base64url');
      await assert.rejects(h.store().comments.threads(v.id, 'top', { limit: 3, cursor: bogus }, { now: clock }), isCode('E_BAD_CURSOR'));
      await assert.rejects(h.store().comments.threads(v.id, 'top', { limit: 3, cursor: 'nope' }, { now: clock }), isCode('E_BAD_CURSOR'));
      await assert.rejects(h.store().comments.threads(v.id, 'newest', { limit: 3, cursor: 'nope' }, { now: clock }), isCode('E_BAD_CURSOR'));
    });
  });

  describe('pinned comment', () => {
    it('only the owner pins one top-level comment; it leads the first page and leaves the rest', async () => {
      const [a, b] = [await h.user(), await h.user()];
      const v = await h.video(a.id);
      const x = await add(v.id, comment(v.id, b.id));
      const y = await add(v.id, comment(v.id, b.id));
      const z = await add(v.id, comment(v.id, b.id));
      const reply = await add(v.id, comment(v.id, a.id, { replyTo: x.id }));
      const refused = await apply(v.id, [
        { type: 'pinComment', commentId: x.id, userId: b.id },
        { type: 'pinComment', commentId: reply.id, userId: a.id },
        { type: 'pinComment', commentId: `${v.id}-${ids.next()}`, userId: a.id },
      ]);
      assert.deepEqual(refused.results, [
        { ok: false, code: 'E_FORBIDDEN' },
        { ok: false, code: 'E_PIN_TARGET' },
        { ok: false, code: 'E_COMMENT_NOT_FOUND' },
      ]);
      const r = await apply(v.id, [
        { type: 'pinComment', commentId: x.id, userId: a.id },
        { type: 'pinComment', commentId: x.id, userId: a.id },
      ]);
      assert.deepEqual(r.results, [
        { ok: true, type: 'pinComment', changed: true, pinned: x.id },
        { ok: true, type: 'pinComment', changed: false, pinned: x.id },
      ]);
      assert.deepEqual(r.events.map((e) => (e.type === 'comment:pinned' ? e.commentId : e.type)), [x.id]);
      assert.equal(await h.store().comments.pinned(v.id), x.id);
      for (const order of ['newest', 'top'] as const) {
        const p1 = await h.store().comments.threads(v.id, order, { limit: 1 }, { now: clock });
        assert.equal(p1.items[0]!.id, x.id, order);
        assert.equal(p1.items[0]!.pinned, true);
        const rest: string[] = ids_(p1.items.slice(1));
        let cursor = p1.nextCursor;
        while (cursor) {
          const p = await h.store().comments.threads(v.id, order, { limit: 1, cursor }, { now: clock });
          rest.push(...ids_(p.items));
          cursor = p.nextCursor;
        }
        assert.deepEqual([...rest].sort(), [y.id, z.id].sort(), `${order}: the pinned comment is not repeated`);
      }
      // deleting the pinned comment unpins it
      const d = await apply(v.id, [{ type: 'deleteComment', commentId: x.id, userId: b.id }]);
      assert.ok(d.events.some((e) => e.type === 'comment:pinned' && e.commentId === null));
      assert.equal(await h.store().comments.pinned(v.id), null);
      await apply(v.id, [{ type: 'pinComment', commentId: y.id, userId: a.id }]);
      const un = await apply(v.id, [{ type: 'pinComment', commentId: null, userId: a.id }]);
      assert.deepEqual(un.results[0], { ok: true, type: 'pinComment', changed: true, pinned: null });
      assert.equal(await h.store().comments.pinned(v.id), null);
    });
  });

  describe('favorites', () => {
    it('are idempotent, counted per video, listed latest saved first, and private until made public', async () => {
      const [a, b] = [await h.user(), await h.user()];
      const [v1, v2, v3] = [await h.video(a.id), await h.video(a.id), await h.video(a.id)];
      const f = h.store().favorites;
      const r = await f.apply(b.id, [
        { type: 'favorite', videoId: v2.id, at: ids.next() },
        { type: 'favorite', videoId: v1.id, at: ids.next() },
        { type: 'favorite', videoId: v1.id, at: ids.next() },
        { type: 'favorite', videoId: v3.id, at: ids.next() },
        { type: 'favorite', videoId: ids.next(), at: ids.next() },
      ]);
      assert.deepEqual(r, [
        { ok: true, type: 'favorite', changed: true, favorites: 1 },
        { ok: true, type: 'favorite', changed: true, favorites: 1 },
        { ok: true, type: 'favorite', changed: false, favorites: 1 },
        { ok: true, type: 'favorite', changed: true, favorites: 1 },
        { ok: false, code: 'E_VIDEO_NOT_FOUND' },
      ]);
      await f.apply(a.id, [{ type: 'favorite', videoId: v1.id, at: ids.next() }]);
      assert.deepEqual(await f.counts([v1.id, v2.id, ids.next()]), [2, 1, 0]);
      assert.deepEqual(await f.favoritedBy(b.id, [v1.id, v2.id, ids.next()]), [true, true, false]);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const p = await f.list(b.id, { limit: 2, cursor });
        seen.push(...p.items);
        cursor = p.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [v3.id, v1.id, v2.id], 'latest saved first; a repeat does not move it');
      const un = await f.apply(b.id, [
        { type: 'unfavorite', videoId: v1.id, at: ids.next() },
        { type: 'unfavorite', videoId: v1.id, at: ids.next() },
      ]);
      assert.deepEqual(un, [
        { ok: true, type: 'unfavorite', changed: true, favorites: 1 },
        { ok: true, type: 'unfavorite', changed: false, favorites: 1 },
      ]);
      assert.deepEqual((await f.list(b.id, { limit: 10 })).items, [v3.id, v2.id]);
      assert.equal(await f.isPublic(b.id), false);
      await f.setPublic(b.id, true);
      assert.equal(await f.isPublic(b.id), true);
      await f.setPublic(b.id, false);
      assert.equal(await f.isPublic(b.id), false);
      await assert.rejects(f.list(b.id, { limit: 2, cursor: 'nope' }), isCode('E_BAD_CURSOR'));
    });

    it('a deleted video takes its count along; unfavoriting it still works', async () => {
      const [a, b] = [await h.user(), await h.user()];
      const v = await h.video(a.id);
      const f = h.store().favorites;
      await f.apply(b.id, [{ type: 'favorite', videoId: v.id, at: ids.next() }]);
      await h.store().videos.delete(v.id);
      assert.deepEqual(await f.counts([v.id]), [0]);
      assert.deepEqual(await f.apply(b.id, [{ type: 'unfavorite', videoId: v.id, at: ids.next() }]), [{ ok: true, type: 'unfavorite', changed: false, favorites: 0 }]);
      assert.deepEqual((await f.list(b.id, { limit: 10 })).items, []);
    });
  });
}
