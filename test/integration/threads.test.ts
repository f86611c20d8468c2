/**
 * Comment threads, comment likes, the pinned comment and favorites end to end: a real server,
 * the SDK's REST and Socket.IO clients over real sockets, with memory and with Redis storage.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TremoloClientError, type LiveClient } from '../../src/client/live-client.ts';
import type { Tremolo } from '../../src/main.ts';
import type { CommentCounterPayload, CommentPinnedPayload } from '../../src/protocol/live.ts';
import type { Notification } from '../../src/protocol/model.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

const codeOf = (e: unknown) => (e as TremoloClientError).code;

for (const driver of ['memory', 'redis'] as const) {
  describe(`social: threads, comment likes, pin, favorites (${driver})`, () => {
    let server: Tremolo;
    let cleanup: () => Promise<void> = async () => {};
    const clients: LiveClient[] = [];
    const connect = async (token?: string) => {
      const c = await liveClient(server, token ? { token } : {});
      clients.push(c);
      return c;
    };

    before(async () => {
      let env = {};
      if (driver === 'redis') {
        const prefix = randomPrefix('social');
        env = { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix };
        cleanup = async () => {
          const redis = await connectRedis();
          await dropPrefix(redis, prefix);
          redis.disconnect();
        };
      }
      server = await startServer({ ...env, LIVE_COUNTER_INTERVAL_MS: '50' });
    });
    after(async () => {
      for (const c of clients) c.close();
      await server.close();
      await cleanup();
    });

    it('threads over REST: a reply to a reply stays in the thread and names whom it answers; counts and likedByMe', async () => {
      const [a, b, c] = [await newUser(server, 'ta'), await newUser(server, 'tb'), await newUser(server, 'tc')];
      const v = await a.http.createVideo({ title: 'threads' });
      const top = await a.http.comment(v.id, 'first');
      const r1 = await b.http.comment(v.id, 'reply', { replyTo: top.id });
      const r2 = await c.http.comment(v.id, 'reply to reply', { replyTo: r1.id });
      assert.deepEqual([r1.threadId, r1.replyToUserId], [top.id, a.id]);
      assert.deepEqual([r2.threadId, r2.replyTo, r2.replyToUserId], [top.id, r1.id, b.id]);

      const liked = await b.http.likeComment(top.id);
      assert.deepEqual([liked.changed, liked.likes, liked.commentId], [true, 1, top.id]);
      assert.equal((await b.http.likeComment(top.id)).changed, false, 'idempotent');
      assert.equal((await c.http.likeComment(top.id)).likes, 2);

      const threads = await b.http.threads(v.id);
      assert.deepEqual(
        threads.items.map((t) => [t.id, t.likes, t.replies, t.likedByMe]),
        [[top.id, 2, 2, true]],
      );
      const anonymous = await fetch(`${server.url}/v1/videos/${v.id}/threads?order=top`).then((r) => r.json() as Promise<{ items: { likedByMe?: boolean }[] }>);
      assert.equal(anonymous.items[0]!.likedByMe, undefined);
      const replies = await a.http.replies(top.id, { limit: 1 });
      assert.deepEqual(replies.items.map((r) => r.id), [r1.id]);
      assert.deepEqual((await a.http.replies(top.id, { cursor: replies.nextCursor! })).items.map((r) => r.id), [r2.id]);
      await assert.rejects(a.http.replies(r1.id), (e) => codeOf(e) === 'E_COMMENT_NOT_FOUND');
      // old clients: the flat list still has every comment
      assert.equal((await a.http.comments(v.id)).items.length, 3);
      // a bad order is refused, not crashed on
      const bad = await fetch(`${server.url}/v1/videos/${v.id}/threads?order=best`);
      assert.equal(bad.status, 400);
    });

    it('only the owner pins, only a top-level comment; the pinned one leads the first page', async () => {
      const [a, b] = [await newUser(server, 'pa'), await newUser(server, 'pb')];
      const v = await a.http.createVideo({ title: 'pin' });
      const x = await b.http.comment(v.id, 'pin me');
      await b.http.comment(v.id, 'later');
      const reply = await a.http.comment(v.id, 'thanks', { replyTo: x.id });
      await assert.rejects(b.http.pinComment(v.id, x.id), (e) => codeOf(e) === 'E_FORBIDDEN');
      await assert.rejects(a.http.pinComment(v.id, reply.id), (e) => codeOf(e) === 'E_PIN_TARGET');
      assert.deepEqual(await a.http.pinComment(v.id, x.id).then((r) => [r.changed, r.pinned]), [true, x.id]);
      const page = await b.http.threads(v.id, { limit: 1 });
      assert.equal(page.items[0]!.id, x.id);
      assert.equal(page.items[0]!.pinned, true);
      assert.notEqual(page.items[1]?.id, x.id);
      assert.deepEqual(await a.http.pinComment(v.id, null).then((r) => [r.changed, r.pinned]), [true, null]);
    });

    it('live: comment likes ack with the exact count, watchers get coalesced comment:counters, the author is notified', async () => {
      const [a, b] = [await newUser(server, 'la'), await newUser(server, 'lb')];
      const v = await a.http.createVideo({ title: 'live likes' });
      const ca = await connect(a.token);
      const cb = await connect(b.token);
      const mine = await ca.comment(v.id, 'like me');
      await cb.watch(v.id);
      const counts: CommentCounterPayload[] = [];
      const pins: CommentPinnedPayload[] = [];
      const notes: Notification[] = [];
      cb.on('commentCounters', (p) => counts.push(p));
      cb.on('commentPinned', (p) => pins.push(p));
      ca.on('notification', (n) => notes.push(n));

      const likers = await Promise.all(Array.from({ length: 5 }, (_, i) => newUser(server, `l${i}`)));
      const sockets = await Promise.all(likers.map((u) => connect(u.token)));
      const acks = await Promise.all(sockets.map((s) => s.likeComment(mine.comment.id)));
      assert.ok(acks.every((r) => r.changed));
      assert.deepEqual(acks.map((r) => r.likes).sort(), [1, 2, 3, 4, 5]);
      await eventually(() => counts.at(-1)?.likes === 5, 'the watcher to see 5 likes');
      assert.ok(counts.length <= 5);
      for (let i = 1; i < counts.length; i++) assert.ok(counts[i]!.offset > counts[i - 1]!.offset, 'never an older count after a newer one');
      await eventually(() => notes.filter((n) => n.type === 'comment:liked').reduce((k, n) => k + (n.type === 'comment:liked' ? n.likerIds.length : 0), 0) === 5, 'the author to hear of 5 likers');
      // and the inbox keeps them: one entry for the comment, naming its likers
      await eventually(async () => (await a.http.notifications()).items.some((e) => e.type === 'comment:liked' && e.target === mine.comment.id), 'the comment like in the inbox');
      const liked = (await a.http.notifications()).items.find((e) => e.type === 'comment:liked')!;
      assert.ok(liked.actorIds.length > 0 && liked.actorIds.every((id) => likers.some((u) => u.id === id)), 'the entry names the likers');

      const pinned = await ca.pinComment(v.id, mine.comment.id);
      assert.equal(pinned.pinned, mine.comment.id);
      await eventually(() => pins.at(-1)?.commentId === mine.comment.id, 'the watcher to see the pin');

      const threads = await cb.threads(v.id, { order: 'top' });
      assert.equal(threads.items[0]!.likes, 5);
      assert.equal((await cb.unlikeComment(mine.comment.id)).changed, false, 'b never liked it');
    });

    it('refuses bad socket payloads with E_VALIDATION and unknown comments with E_COMMENT_NOT_FOUND', async () => {
      const a = await newUser(server, 'va');
      const v = await a.http.createVideo({ title: 'bad' });
      const s = await connect(a.token);
      await assert.rejects(s.call('comment:like', { commentId: 'nope' }), (e) => codeOf(e) === 'E_VALIDATION');
      await assert.rejects(s.call('comment:threads', { videoId: v.id, order: 'best' as never }), (e) => codeOf(e) === 'E_VALIDATION');
      await assert.rejects(s.call('comment:threads', { videoId: v.id, limit: 1000 }), (e) => codeOf(e) === 'E_VALIDATION');
      await assert.rejects(s.likeComment(`${v.id}-0APCR7RS00000`), (e) => codeOf(e) === 'E_COMMENT_NOT_FOUND');
      await assert.rejects(s.call('video:favorite', { videoId: 42 as never }), (e) => codeOf(e) === 'E_VALIDATION');
      const anon = await connect();
      await assert.rejects(anon.favorite(v.id), (e) => codeOf(e) === 'E_TOKEN_MISSING');
      assert.deepEqual((await anon.threads(v.id)).items, []);
    });

    it('favorites: idempotent, counted on the video, the owner notified, the list private until made public', async () => {
      const [a, b, c] = [await newUser(server, 'fa'), await newUser(server, 'fb'), await newUser(server, 'fc')];
      const v1 = await a.http.createVideo({ title: 'one' });
      const v2 = await a.http.createVideo({ title: 'two' });
      const ca = await connect(a.token);
      const notes: Notification[] = [];
      ca.on('notification', (n) => notes.push(n));
      const cb = await connect(b.token);
      assert.deepEqual(await cb.favorite(v1.id), { ok: true, changed: true, videoId: v1.id, favorites: 1 });
      assert.equal((await cb.favorite(v1.id)).changed, false);
      assert.equal((await b.http.favorite(v2.id)).favorites, 1);
      assert.equal((await c.http.favorite(v1.id)).favorites, 2);
      const seen = await b.http.favoriteState(v1.id);
      assert.deepEqual([seen.favorites, seen.favoritedByMe], [2, true]);
      await eventually(() => notes.filter((n) => n.type === 'video:favorited').length === 3, 'the owner to hear of 3 favorites');
      await eventually(async () => (await a.http.notifications()).items.some((e) => e.type === 'video:favorited' && e.target === v1.id), 'the favorite in the inbox');
      const saved = (await a.http.notifications()).items.find((e) => e.type === 'video:favorited' && e.target === v1.id)!;
      assert.deepEqual(new Set(saved.actorIds), new Set([b.id, c.id]), 'the entry names who saved it');

      assert.deepEqual((await b.http.favorites(b.id)).items.map((x) => x.id), [v2.id, v1.id], 'latest saved first');
      await assert.rejects(c.http.favorites(b.id), (e) => codeOf(e) === 'E_FAVORITES_PRIVATE' && (e as { status?: number }).status === 403);
      const anonymous = await fetch(`${server.url}/v1/users/${b.id}/favorites`);
      assert.equal(anonymous.status, 403);
      assert.deepEqual(await b.http.updateSettings({ favoritesPublic: true }), { favoritesPublic: true });
      assert.equal((await c.http.favorites(b.id)).items.length, 2);
      await assert.rejects(c.http.favorites('0000000000000'), (e) => codeOf(e) === 'E_USER_NOT_FOUND');

      assert.equal((await b.http.unfavorite(v1.id)).favorites, 1);
      assert.equal((await b.http.unfavorite(v1.id)).changed, false);
      await a.http.deleteVideo(v2.id);
      assert.deepEqual((await b.http.favorites(b.id)).items, [], 'a deleted video drops out');
      await assert.rejects(b.http.favorite(v2.id), (e) => codeOf(e) === 'E_VIDEO_NOT_FOUND');
    });
  });
}
