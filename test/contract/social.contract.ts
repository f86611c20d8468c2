/**
 * The storage contract of the social parts (inbox, blocks, moderation): sections of the one
 * Store contract suite (store.contract.ts calls `socialContract` inside its describe), run
 * against every driver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TsidGenerator } from '../../src/domain/ids.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Notification } from '../../src/protocol/model.ts';
import type { Report } from '../../src/protocol/social.ts';
import type { InboxItem, InboxLimits } from '../../src/storage/social.ts';
import type { Store, UserRecord } from '../../src/storage/store.ts';

export interface SocialContractContext {
  store: () => Store;
  ids: TsidGenerator;
  user: () => Promise<UserRecord>;
}

const LIMITS: InboxLimits = { max: 5, windowMs: 60_000, actorsKept: 3 };

export function socialContract({ store: s, ids, user }: SocialContractContext): void {
  const liked = (videoId: string, likerIds: string[]): InboxItem => ({
    entryId: ids.next(),
    type: 'video:liked',
    target: videoId,
    actorIds: likerIds,
    notification: { type: 'video:liked', videoId, likerIds, likes: likerIds.length },
  });
  const followed = (followerId: string, recipient: string): InboxItem => ({
    entryId: ids.next(),
    type: 'user:followed',
    target: recipient,
    actorIds: [followerId],
    notification: { type: 'user:followed', followerId },
  });

  describe('notifications inbox', () => {
    it('folds one (type, target) into one entry within the window: latest actors first, a count, unread', async () => {
      const store = s();
      const owner = ids.next();
      const [v, a, b, c, d] = [ids.next(), ids.next(), ids.next(), ids.next(), ids.next()];
      const now = Date.now();
      const w1 = await store.notifications.add(owner, [liked(v, [a]), liked(v, [b, c])], { now, limits: LIMITS });
      assert.equal(w1.entries.length, 1);
      assert.equal(w1.unread, 1);
      const e = w1.entries[0]!;
      assert.deepEqual([e.type, e.target, e.actorIds, e.count, e.read], ['video:liked', v, [c, b, a], 3, false]);
      assert.deepEqual(e.latest, { type: 'video:liked', videoId: v, likerIds: [b, c], likes: 2 });

      const w2 = await store.notifications.add(owner, [liked(v, [d]), liked(v, [a])], { now: now + 1000, limits: LIMITS });
      assert.equal(w2.entries[0]!.id, e.id, 'the same entry');
      assert.deepEqual(w2.entries[0]!.actorIds, [a, d, c], 'an actor seen again moves to the front; only actorsKept stay');
      assert.equal(w2.entries[0]!.count, 5);

      // after the window a new entry starts
      const w3 = await store.notifications.add(owner, [liked(v, [b])], { now: now + LIMITS.windowMs + 1, limits: LIMITS });
      assert.notEqual(w3.entries[0]!.id, e.id);
      assert.equal(w3.unread, 2);
      const page = await store.notifications.list(owner, { limit: 10 });
      assert.deepEqual(page.items.map((x) => [x.id, x.count]), [[w3.entries[0]!.id, 1], [e.id, 5]]);
      assert.equal(page.unread, 2);
    });

    it('marks one or all read; a new notification makes a read entry unread again', async () => {
      const store = s();
      const owner = ids.next();
      const [v1, v2, a] = [ids.next(), ids.next(), ids.next()];
      const now = Date.now();
      const w = await store.notifications.add(owner, [liked(v1, [a]), liked(v2, [a]), followed(a, owner)], { now, limits: LIMITS });
      assert.equal(w.unread, 3);
      const [first] = w.entries;
      assert.deepEqual(await store.notifications.markRead(owner, first!.id), { found: true, unread: 2 });
      assert.deepEqual(await store.notifications.markRead(owner, first!.id), { found: true, unread: 2 }, 'idempotent');
      assert.deepEqual(await store.notifications.markRead(owner, ids.next()), { found: false, unread: 2 });
      assert.equal((await store.notifications.list(owner, { limit: 10 })).items.find((x) => x.id === first!.id)?.read, true);
      await store.notifications.add(owner, [liked(v1, [ids.next()])], { now: now + 1, limits: LIMITS });
      assert.equal(await store.notifications.unread(owner), 3);
      assert.deepEqual(await store.notifications.markRead(owner), { found: true, unread: 0 });
      assert.ok((await store.notifications.list(owner, { limit: 10 })).items.every((x) => x.read));
      assert.equal(await store.notifications.unread(ids.next()), 0, 'an empty inbox');
    });

    it('is bounded: the least recently updated entries go first', async () => {
      const store = s();
      const owner = ids.next();
      const videos = Array.from({ length: 7 }, () => ids.next());
      const now = Date.now();
      for (const v of videos) await store.notifications.add(owner, [liked(v, [ids.next()])], { now, limits: LIMITS });
      // touching the oldest kept one moves it up
      await store.notifications.add(owner, [liked(videos[2]!, [ids.next()])], { now, limits: LIMITS });
      await store.notifications.add(owner, [liked(ids.next(), [ids.next()])], { now, limits: LIMITS });
      const page = await store.notifications.list(owner, { limit: 10 });
      assert.equal(page.items.length, LIMITS.max);
      assert.equal(page.unread, LIMITS.max);
      assert.deepEqual(page.items.slice(1).map((x) => x.target), [videos[2], videos[6], videos[5], videos[4]]);
    });

    it('pages newest first with a cursor that an update between pages does not disturb', async () => {
      const store = s();
      const owner = ids.next();
      const videos = Array.from({ length: 5 }, () => ids.next());
      const now = Date.now();
      for (const v of videos) await store.notifications.add(owner, [liked(v, [ids.next()])], { now, limits: { ...LIMITS, max: 10 } });
      const p1 = await store.notifications.list(owner, { limit: 2 });
      assert.deepEqual(p1.items.map((x) => x.target), [videos[4], videos[3]]);
      await store.notifications.add(owner, [liked(videos[0]!, [ids.next()])], { now, limits: { ...LIMITS, max: 10 } });
      const p2 = await store.notifications.list(owner, { cursor: p1.nextCursor, limit: 2 });
      assert.deepEqual(p2.items.map((x) => x.target), [videos[2], videos[1]], 'the updated entry moved ahead of the cursor');
      assert.equal(p2.nextCursor, undefined, 'the last page');
      await assert.rejects(store.notifications.list(owner, { cursor: 'nope', limit: 2 }), (e: TremoloError) => e.code === 'E_BAD_CURSOR');
    });

    it('drops notifications from actors the recipient blocks', async () => {
      const store = s();
      const [owner, bad, good] = [await user(), await user(), await user()];
      await store.blocks.block(owner.id, bad.id, 10);
      const v = ids.next();
      const w = await store.notifications.add(owner.id, [liked(v, [bad.id]), followed(bad.id, owner.id), liked(v, [bad.id, good.id])], { now: Date.now(), limits: LIMITS });
      assert.equal(w.entries.length, 1);
      assert.deepEqual(w.entries[0]!.actorIds, [good.id]);
      assert.equal(w.entries[0]!.count, 1);
      const n: Notification = { type: 'video:liked', videoId: v, likerIds: [], likes: 0 };
      const anonymous = await store.notifications.add(owner.id, [{ entryId: ids.next(), type: 'system', target: v, actorIds: [], notification: n }], { now: Date.now(), limits: LIMITS });
      assert.deepEqual(anonymous.entries[0]!.actorIds, [], 'a notification without actors is kept');
      assert.deepEqual(anonymous.entries[0]!.latest, n);
    });
  });

  describe('blocks', () => {
    it('blocks idempotently, lists, unblocks, and is bounded', async () => {
      const store = s();
      const [a, b, c] = [await user(), await user(), await user()];
      assert.deepEqual(await store.blocks.block(a.id, b.id, 2), { changed: true });
      assert.deepEqual(await store.blocks.block(a.id, b.id, 2), { changed: false });
      assert.equal(await store.blocks.blocks(a.id, b.id), true);
      assert.equal(await store.blocks.blocks(b.id, a.id), false, 'one direction');
      await store.blocks.block(a.id, c.id, 2);
      await assert.rejects(store.blocks.block(a.id, ids.next(), 2), (e: TremoloError) => e.code === 'E_BLOCK_LIMIT');
      assert.deepEqual(await store.blocks.allBlocked(a.id), [b.id, c.id].sort());
      const p1 = await store.blocks.blocked(a.id, { limit: 1 });
      const p2 = await store.blocks.blocked(a.id, { cursor: p1.nextCursor, limit: 1 });
      assert.deepEqual([...p1.items, ...p2.items], [b.id, c.id].sort());
      assert.deepEqual(await store.blocks.unblock(a.id, b.id), { changed: true });
      assert.deepEqual(await store.blocks.unblock(a.id, b.id), { changed: false });
      assert.deepEqual(await store.blocks.allBlocked(a.id), [c.id]);
    });

    it('refuses a follow in either direction while a block stands, and allows it after', async () => {
      const store = s();
      const [a, b] = [await user(), await user()];
      await store.blocks.block(a.id, b.id, 10);
      assert.deepEqual(await store.users.applyOps(b.id, [{ type: 'follow', targetId: a.id }], { now: Date.now() }), [{ ok: false, code: 'E_BLOCKED' }]);
      assert.deepEqual(await store.users.applyOps(a.id, [{ type: 'follow', targetId: b.id }], { now: Date.now() }), [{ ok: false, code: 'E_BLOCKED' }]);
      assert.equal((await store.users.profile(a.id))?.followers, 0, 'the refused follow left no follower behind');
      assert.equal((await store.users.profile(b.id))?.followers, 0);
      await store.blocks.unblock(a.id, b.id);
      assert.deepEqual(await store.users.applyOps(b.id, [{ type: 'follow', targetId: a.id }], { now: Date.now() }), [{ ok: true, changed: true }]);
    });
  });

  describe('moderation', () => {
    const report = (reporterId: string, videoId: string, reason = 'spam'): Report => ({
      id: ids.next(),
      reporterId,
      target: { type: 'video', id: videoId },
      reason,
      createdAt: new Date().toISOString(),
    });

    it('files reports once per reporter and target, lists open ones oldest first, resolves per target', async () => {
      const store = s();
      const [r1, r2, v, w] = [ids.next(), ids.next(), ids.next(), ids.next()];
      const first = report(r1, v);
      assert.deepEqual(await store.moderation.report(first, 1000), { report: first, duplicate: false });
      assert.deepEqual(await store.moderation.report(report(r1, v, 'again'), 1000), { report: first, duplicate: true });
      const second = report(r2, v);
      const other = report(r1, w);
      await store.moderation.report(second, 1000);
      await store.moderation.report(other, 1000);
      const mine = async () => {
        const out: Report[] = [];
        let cursor: string | undefined;
        do {
          const p = await store.moderation.openReports({ cursor, limit: 2 });
          out.push(...p.items.filter((r) => [v, w].includes(r.target.id)));
          cursor = p.nextCursor;
        } while (cursor);
        return out;
      };
      assert.deepEqual(await mine(), [first, second, other]);
      assert.equal(await store.moderation.resolveReports({ type: 'video', id: v }), 2);
      assert.deepEqual(await mine(), [other]);
      const again = report(r1, v);
      assert.equal((await store.moderation.report(again, 1000)).duplicate, false, 'a resolved report does not dedup a new one');
    });

    it('refuses reports beyond the open bound with E_QUEUE_FULL', async () => {
      const store = s();
      const open = (await store.moderation.openReports({ limit: 1000 })).items.length;
      await store.moderation.report(report(ids.next(), ids.next()), open + 1);
      await assert.rejects(store.moderation.report(report(ids.next(), ids.next()), open + 1), (e: TremoloError) => e.code === 'E_QUEUE_FULL');
    });

    it('hides and restores targets, keeping the first record', async () => {
      const store = s();
      const v = { type: 'video', id: ids.next() } as const;
      const c = { type: 'comment', id: `${v.id}-${ids.next()}` } as const;
      const rec = { reason: 'spam', by: ids.next(), at: new Date().toISOString() };
      assert.equal(await store.moderation.hide(v, rec), true);
      assert.equal(await store.moderation.hide(v, { ...rec, reason: 'other' }), false);
      assert.deepEqual(await store.moderation.hidden([v, c]), [rec, null]);
      assert.equal(await store.moderation.restore(v), true);
      assert.equal(await store.moderation.restore(v), false);
      assert.deepEqual(await store.moderation.hidden([v]), [null]);
      assert.deepEqual(await store.moderation.hidden([]), []);
    });

    it('names the author of a comment, null for none', async () => {
      const store = s();
      const u = await user();
      const v = ids.next();
      await store.videos.create({ id: v, ownerId: u.id, title: 't', description: '', createdAt: new Date().toISOString(), media: {} });
      const c = { id: `${v}-${ids.next()}`, videoId: v, authorId: u.id, text: 'hi', createdAt: new Date().toISOString() };
      await store.videos.applyOps(v, [{ type: 'comment', comment: c, idempotencyKey: 'k' }], { now: Date.now() });
      assert.equal(await store.moderation.commentAuthor(c.id), u.id);
      assert.equal(await store.moderation.commentAuthor(`${v}-${ids.next()}`), null);
      assert.equal(await store.moderation.commentAuthor(`${ids.next()}-${ids.next()}`), null);
    });
  });
}
