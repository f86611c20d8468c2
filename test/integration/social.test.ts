/**
 * Social depth end to end, over real sockets and HTTP: the notifications inbox (aggregated,
 * persisted, live to every socket of the user on any process), mentions, blocks and
 * moderation (the word filter, reports, hiding and restoring). Run on the memory store (one
 * process) and on real Redis (two processes sharing it, each with its own sockets).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { HttpClient } from '../../src/client/http-client.ts';
import type { LiveClient } from '../../src/client/live-client.ts';
import type { Tremolo } from '../../src/main.ts';
import type { InboxEntry } from '../../src/protocol/social.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

const rejects = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

for (const driver of ['memory', 'redis'] as const) {
  describe(`social depth (${driver})`, () => {
    let servers: Tremolo[] = [];
    const clients: LiveClient[] = [];
    let redis: Redis | undefined;
    const prefix = randomPrefix('social');

    before(async () => {
      const env = { INBOX_WINDOW: '1h', INBOX_ACTORS_KEPT: '3' };
      if (driver === 'memory') servers = [await startServer(env)];
      else {
        redis = await connectRedis();
        const shared = { ...env, STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix };
        servers = [await startServer({ ...shared, NODE_ID: '11' }), await startServer({ ...shared, NODE_ID: '12' })];
      }
    });
    after(async () => {
      for (const c of clients) c.close();
      for (const s of servers) await s.close();
      if (redis) {
        await dropPrefix(redis, prefix);
        redis.disconnect();
      }
    });

    const first = () => servers[0]!;
    const last = () => servers.at(-1)!;
    const live = async (server: Tremolo, token: string) => {
      const c = await liveClient(server, { token });
      clients.push(c);
      return c;
    };
    /** A token with the `admin` role claim, signed as the server signs its own. */
    const adminToken = async (userId: string) =>
      new SignJWT({ role: 'admin' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(userId)
        .setIssuer(first().config.jwtIssuer)
        .setAudience(first().config.jwtAudience)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(Buffer.from(first().config.jwtSecret!));

    it('folds likes into one inbox entry, stored, and delivered live to every socket of the owner on every process', async () => {
      const owner = await newUser(first(), 'own');
      const video = await owner.http.createVideo({ title: 'inbox me' });
      const sockets = await Promise.all(servers.map((s) => live(s, owner.token)));
      const seen = sockets.map(() => [] as InboxEntry[]);
      const unread = sockets.map(() => [] as number[]);
      sockets.forEach((c, i) => {
        c.on('inbox', (e) => seen[i]!.push(e));
        c.on('unread', (n) => unread[i]!.push(n));
      });

      const likers = await Promise.all([1, 2, 3, 4].map((i) => newUser(i % 2 ? first() : last(), `lk${i}`)));
      for (const l of likers) await l.http.like(video.id);
      await eventually(
        () => seen.every((s) => s.some((e) => e.type === 'video:liked' && e.count === 4)) && unread.every((u) => u.at(-1) === 1),
        'every socket sees the folded entry and one unread',
      );
      const page = await owner.http.notifications();
      assert.equal(page.unread, 1);
      assert.equal(page.items.length, 1);
      const entry = page.items[0]!;
      assert.deepEqual([entry.type, entry.target, entry.count, entry.read], ['video:liked', video.id, 4, false]);
      assert.equal(entry.actorIds.length, 3, 'INBOX_ACTORS_KEPT latest actors');
      assert.equal(entry.actorIds[0], likers[3]!.id, 'the latest first');

      // a comment and a follow are entries of their own; reading on one socket updates the count on all
      const fan = await newUser(last(), 'fan');
      await fan.http.comment(video.id, 'lovely');
      await fan.http.follow(owner.id);
      await eventually(async () => (await owner.http.unreadCount()).unread === 3, 'three unread entries');
      const types = (await owner.http.notifications()).items.map((e) => e.type);
      assert.deepEqual(types.sort(), ['user:followed', 'video:commented', 'video:liked']);
      assert.deepEqual(await sockets[0]!.markNotificationsRead(entry.id), { ok: true, unread: 2 });
      await eventually(() => unread.every((u) => u.at(-1) === 2), 'the new count on every socket');
      assert.deepEqual(await owner.http.markNotificationsRead(), { unread: 0 });
      assert.ok((await owner.http.notifications()).items.every((e) => e.read));
      await assert.rejects(owner.http.markNotificationsRead('0APCR7QP80000'), rejects('E_NOT_FOUND'));
      const bad = await sockets[0]!.call('inbox:read', { entryId: 'nope' } as never).catch((e: unknown) => e);
      assert.equal((bad as { code?: string }).code, 'E_VALIDATION');
    });

    it('resolves mentions into structured ones and notifies the mentioned user', async () => {
      const [author, named] = [await newUser(first(), 'au'), await newUser(last(), 'nm')];
      const video = await author.http.createVideo({ title: 'mentions', description: `with @${named.handle.toUpperCase()} and @nobody_here` });
      assert.deepEqual(video.mentions, [{ userId: named.id, start: 5, end: 6 + named.handle.length }]);
      const c = await author.http.comment(video.id, `hey @${named.handle}!`);
      assert.deepEqual(c.mentions, [{ userId: named.id, start: 4, end: 5 + named.handle.length }]);
      await eventually(async () => (await named.http.notifications()).items.filter((e) => e.type === 'user:mentioned').length === 2, 'two mention entries');
      const entries = (await named.http.notifications()).items;
      assert.ok(entries.some((e) => e.target === c.id && e.actorIds[0] === author.id));
    });

    it('blocks: follows end both ways, and the blocked user cannot follow, comment, reply or mention; their videos and comments drop out', async () => {
      const [me, pest, other] = [await newUser(first(), 'me'), await newUser(last(), 'pest'), await newUser(first(), 'oth')];
      await me.http.follow(pest.id);
      await pest.http.follow(me.id);
      const myVideo = await me.http.createVideo({ title: 'mine' });
      const pestVideo = await pest.http.createVideo({ title: 'pest video' });
      const otherVideo = await other.http.createVideo({ title: 'other video' });
      const pestComment = await pest.http.comment(otherVideo.id, 'first!');
      await other.http.comment(otherVideo.id, 'hello');

      const socket = await live(first(), me.token);
      assert.deepEqual(await socket.block(pest.id), { ok: true, changed: true });
      assert.deepEqual(await me.http.block(pest.id), { changed: false }, 'idempotent');
      assert.deepEqual((await me.http.blocked()).items, [pest.id]);
      const [mine, theirs] = [await me.http.user(me.id), await me.http.user(pest.id)];
      assert.deepEqual([mine.followers, mine.following, theirs.followers, theirs.following], [0, 0, 0, 0], 'follows ended, counts exact');

      await assert.rejects(pest.http.follow(me.id), rejects('E_BLOCKED'));
      await assert.rejects(me.http.follow(pest.id), rejects('E_BLOCKED'));
      await assert.rejects(pest.http.comment(myVideo.id, 'hi'), rejects('E_BLOCKED'));
      const mineOnOther = await me.http.comment(otherVideo.id, 'mine');
      await assert.rejects(pest.http.comment(otherVideo.id, 'reply', { replyTo: mineOnOther.id }), rejects('E_BLOCKED'));
      await assert.rejects(pest.http.comment(otherVideo.id, `@${me.handle} look`), rejects('E_BLOCKED'));
      await assert.rejects(pest.http.createVideo({ title: 'x', description: `@${me.handle}` }), rejects('E_BLOCKED'));

      const hot = async (http: HttpClient) => {
        const ids: string[] = [];
        let cursor: string | undefined;
        do {
          const p = await http.hot({ cursor, limit: 100 });
          ids.push(...p.items.map((v) => v.id));
          cursor = p.nextCursor;
        } while (cursor);
        return ids;
      };
      await servers[0]!.engine.flushHotScores();
      assert.ok(!(await hot(me.http)).includes(pestVideo.id), 'no blocked videos in my hot feed');
      assert.ok((await hot(other.http)).includes(pestVideo.id), 'others still see them');
      assert.deepEqual((await me.http.userVideos(pest.id)).items, [], 'nor on their profile');
      const myComments = (await me.http.comments(otherVideo.id, { limit: 50 })).items.map((c) => c.id);
      assert.ok(!myComments.includes(pestComment.id), 'no blocked comments for me');
      assert.ok((await other.http.comments(otherVideo.id, { limit: 50 })).items.some((c) => c.id === pestComment.id), 'others see them');

      // the pest's likes no longer reach my inbox
      await pest.http.like(myVideo.id);
      await other.http.like(myVideo.id);
      await eventually(async () => (await me.http.notifications()).items.some((e) => e.type === 'video:liked'), 'the other like');
      const liked = (await me.http.notifications()).items.find((e) => e.type === 'video:liked')!;
      assert.deepEqual(liked.actorIds, [other.id]);

      assert.deepEqual(await socket.unblock(pest.id), { ok: true, changed: true });
      assert.deepEqual(await pest.http.follow(me.id), { changed: true });
      await assert.rejects(me.http.block(me.id), rejects('E_VALIDATION'));
      await assert.rejects(me.http.block('0APCR7QP80000'), rejects('E_USER_NOT_FOUND'));
    });

    it('filters sensitive words: masks or rejects naming the field, in comments, titles and handles', async () => {
      const u = await newUser(first(), 'fw');
      const video = await u.http.createVideo({ title: 'ＳＨＩＴ happens' });
      assert.equal(video.title, '**** happens');
      const c = await u.http.comment(video.id, 'so 加 微 信 now');
      assert.equal(c.text, 'so * * * now');
      const err = (await u.http.comment(video.id, 'k y s').catch((e: unknown) => e)) as { code: string; status: number };
      assert.equal(err.code, 'E_CONTENT_REJECTED');
      assert.equal(err.status, 422);
      const raw = await fetch(`${first().url}/v1/videos/${video.id}/comments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${u.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text: '傻 逼' }),
      });
      assert.equal(raw.status, 422);
      assert.deepEqual(((await raw.json()) as { error: { details: unknown } }).error.details, { field: 'text', category: 'abuse' });
      await assert.rejects(u.http.createVideo({ title: 'fine', description: 'kill yourself' }), rejects('E_CONTENT_REJECTED'));
      await assert.rejects(new HttpClient(first().url).register(`kys${Date.now() % 100000}`, 'correct horse battery'), rejects('E_CONTENT_REJECTED'));
      const socket = await live(last(), u.token);
      const ack = await socket.call('comment:add', { videoId: video.id, text: 'f u c k  y o u', idempotencyKey: 'k1' }).catch((e: unknown) => e);
      assert.equal((ack as { code?: string }).code, 'E_CONTENT_REJECTED');
    });

    it('reports are deduplicated; operators list them, hide a video and a comment (live removal, author told) and restore them', async () => {
      const [author, reporter, plain, operator] = [await newUser(first(), 'ath'), await newUser(last(), 'rep'), await newUser(first(), 'pl'), await newUser(first(), 'op')];
      const admin = new HttpClient(last().url, { token: await adminToken(operator.id) });
      const video = await author.http.createVideo({ title: 'reported' });
      const comment = await plain.http.comment(video.id, 'a comment');
      const r1 = await reporter.http.report({ type: 'video', id: video.id }, 'spam');
      const r2 = await reporter.http.report({ type: 'video', id: video.id }, 'spam again');
      assert.equal(r1.duplicate, false);
      assert.deepEqual(r2, { report: r1.report, duplicate: true });
      await reporter.http.report({ type: 'comment', id: comment.id }, 'rude');
      await assert.rejects(reporter.http.report({ type: 'video', id: '0APCR7QP80000' }, 'x'), rejects('E_VIDEO_NOT_FOUND'));
      await assert.rejects(reporter.http.report({ type: 'comment', id: video.id }, 'x'), rejects('E_VALIDATION'));

      await assert.rejects(plain.http.openReports(), rejects('E_FORBIDDEN'));
      await assert.rejects(plain.http.hide({ type: 'video', id: video.id }, 'no'), rejects('E_FORBIDDEN'));
      const open = async () => {
        const out: string[] = [];
        let cursor: string | undefined;
        do {
          const p = await admin.openReports({ cursor, limit: 100 });
          out.push(...p.items.map((r) => r.id));
          cursor = p.nextCursor;
        } while (cursor);
        return out;
      };
      assert.ok((await open()).includes(r1.report.id));

      const watcher = await live(last(), plain.token);
      const hidden: string[] = [];
      watcher.on('videoHidden', (p) => hidden.push(`video:${p.videoId}`));
      watcher.on('commentHidden', (p) => hidden.push(`comment:${p.commentId}`));
      await watcher.watch(video.id);

      assert.deepEqual(await admin.hide({ type: 'comment', id: comment.id }, 'rude'), { changed: true });
      await eventually(() => hidden.includes(`comment:${comment.id}`), 'the comment removed live');
      assert.ok(!(await author.http.comments(video.id)).items.some((c) => c.id === comment.id));
      assert.deepEqual(await admin.hide({ type: 'video', id: video.id }, 'spam'), { changed: true });
      assert.deepEqual(await admin.hide({ type: 'video', id: video.id }, 'spam'), { changed: false });
      await eventually(() => hidden.includes(`video:${video.id}`), 'the video removed live');
      assert.ok(!(await open()).includes(r1.report.id), 'its reports closed');
      await assert.rejects(plain.http.getVideo(video.id), rejects('E_VIDEO_NOT_FOUND'));
      assert.equal((await author.http.getVideo(video.id)).id, video.id, 'its owner still sees it');
      await eventually(
        async () => (await author.http.notifications()).items.some((e) => e.type === 'content:hidden' && (e.latest as { reason?: string }).reason === 'spam'),
        'the author told',
      );
      await eventually(async () => (await plain.http.notifications()).items.some((e) => e.type === 'content:hidden' && e.target === comment.id), 'the commenter told');

      assert.deepEqual(await admin.restore({ type: 'video', id: video.id }), { changed: true });
      assert.deepEqual(await admin.restore({ type: 'comment', id: comment.id }), { changed: true });
      assert.equal((await plain.http.getVideo(video.id)).id, video.id);
      assert.ok((await author.http.comments(video.id)).items.some((c) => c.id === comment.id));
      await eventually(async () => (await author.http.notifications()).items.some((e) => e.type === 'content:restored'), 'the author told of the restore');
      await assert.rejects(admin.hide({ type: 'comment', id: `${video.id}-0APCR7QP80000` }, 'x'), rejects('E_COMMENT_NOT_FOUND'));
    });

    it('a following-feed page kept by one process drops a video hidden through another, shows it again when restored, and drops a blocked author', async () => {
      const [author, reader, operator] = [await newUser(first(), 'kfa'), await newUser(last(), 'kfr'), await newUser(first(), 'kfo')];
      const admin = new HttpClient(first().url, { token: await adminToken(operator.id) });
      await reader.http.follow(author.id);
      const [v1, v2] = [await author.http.createVideo({ title: 'stays' }), await author.http.createVideo({ title: 'hidden soon' })];
      const feed = async () => (await reader.http.feed()).items.map((v) => v.id);
      await eventually(async () => (await feed()).length === 2, 'both posts in the feed');
      assert.deepEqual(await feed(), [v2.id, v1.id], 'read again: the kept page');

      await admin.hide({ type: 'video', id: v2.id }, 'spam');
      await eventually(async () => (await feed()).join() === v1.id, 'the hidden video gone from the kept page');
      await admin.restore({ type: 'video', id: v2.id });
      await eventually(async () => (await feed()).join() === [v2.id, v1.id].join(), 'the restored video back');

      await reader.http.block(author.id);
      assert.deepEqual(await feed(), [], 'a blocked author drops out at once in the process that blocked');
    });
  });
}
