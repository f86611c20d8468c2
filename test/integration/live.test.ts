import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { io as rawIo } from 'socket.io-client';
import { LiveClient, TremoloClientError } from '../../src/client/live-client.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { Tremolo } from '../../src/main.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { msgpackParser } from '../../src/protocol/msgpack-parser.ts';
import type { Comment, Notification } from '../../src/protocol/model.ts';
import type { CounterPayload } from '../../src/protocol/live.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

const codeOf = (e: unknown) => (e as TremoloClientError).code;

for (const parser of ['json', 'msgpack'] as const) {
  describe(`live protocol (${parser})`, () => {
    let server: Tremolo;
    const clients: LiveClient[] = [];
    const connect = async (token?: string, extra: Partial<ConstructorParameters<typeof LiveClient>[0]> = {}) => {
      const c = await liveClient(server, { parser, ...(token ? { token } : {}), ...extra });
      clients.push(c);
      return c;
    };

    before(async () => {
      server = await startServer({ SOCKET_PARSER: parser, EVENT_LOG_MAX: '12', LIVE_COUNTER_INTERVAL_MS: '50' });
    });
    after(async () => {
      for (const c of clients) c.close();
      await server.close();
    });

    it('refuses a bad token in connect_error with the catalog code', async () => {
      const c = new LiveClient({ url: server.url, parser, token: 'not.a.jwt' });
      await assert.rejects(c.connect(), (e) => codeOf(e) === 'E_TOKEN_INVALID');
      c.close();
    });

    it('lets anonymous sockets watch but not write', async () => {
      const owner = await newUser(server);
      const v = await owner.http.createVideo({ title: 'anon' });
      const anon = await connect();
      const w = await anon.watch(v.id);
      assert.equal(w.snapshot.likedByMe, false);
      await assert.rejects(anon.like(v.id), (e) => codeOf(e) === 'E_TOKEN_MISSING');
    });

    it('user B sees A\u2019s like and comment live, each comment once and in order', async () => {
      const a = await newUser(server, 'a');
      const b = await newUser(server, 'b');
      const v = await a.http.createVideo({ title: 'live' });
      const ca = await connect(a.token);
      const cb = await connect(b.token);
      const w = await cb.watch(v.id);
      assert.equal(w.snapshot.counters.likes, 0);
      assert.equal(w.snapshot.latestComments.length, 0);
      const counters: CounterPayload[] = [];
      const comments: (Comment & { offset: number })[] = [];
      cb.on('counters', (c) => counters.push(c));
      cb.on('comment', (c) => comments.push(c));

      const liked = await ca.like(v.id);
      assert.equal(liked.changed, true);
      assert.equal(liked.counters.likes, 1);
      for (let i = 0; i < 5; i++) await ca.comment(v.id, `c${i}`);
      const retry = await ca.comment(v.id, 'again', { idempotencyKey: 'same' });
      const dup = await ca.comment(v.id, 'again', { idempotencyKey: 'same' });
      assert.equal(dup.duplicate, true);
      assert.equal(dup.comment.id, retry.comment.id);

      await eventually(() => comments.length >= 6 && counters.at(-1)?.comments === 6, 'comments and counters at B');
      assert.deepEqual(
        comments.map((c) => c.text),
        ['c0', 'c1', 'c2', 'c3', 'c4', 'again'],
      );
      const offsets = comments.map((c) => c.offset);
      assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y));
      assert.equal(counters.at(-1)!.likes, 1);
      const versions = counters.map((c) => c.version);
      assert.deepEqual(versions, [...new Set(versions)].sort((x, y) => x - y), 'counter versions only grow');
    });

    it('coalesces counters: many likes, fewer updates, exact final value', async () => {
      const owner = await newUser(server);
      const v = await owner.http.createVideo({ title: 'hot' });
      const watcher = await connect();
      await watcher.watch(v.id);
      const seen: CounterPayload[] = [];
      watcher.on('counters', (c) => seen.push(c));
      const likers = await Promise.all(Array.from({ length: 30 }, () => newUser(server, 'liker')));
      await Promise.all(likers.map((l) => l.http.like(v.id)));
      await eventually(() => seen.at(-1)?.likes === 30, 'final like count');
      assert.ok(seen.length < 30, `expected fewer than 30 counter events, got ${seen.length}`);
    });

    it('notifies the owner of likes, comments and follows, and followers of new posts', async () => {
      const owner = await newUser(server, 'own');
      const fan = await newUser(server, 'fan');
      const co = await connect(owner.token);
      const cf = await connect(fan.token);
      const notes: Notification[] = [];
      const feed: { videoId: string }[] = [];
      co.on('notification', (n) => notes.push(n));
      cf.on('feed', (f) => feed.push(f));
      await cf.follow(owner.id);
      const v = await owner.http.createVideo({ title: 'for fans' });
      await cf.like(v.id);
      await cf.comment(v.id, 'nice');
      await eventually(() => notes.length >= 3 && feed.length >= 1, 'notifications and feed:new');
      assert.deepEqual(notes.map((n) => n.type).sort(), ['user:followed', 'video:commented', 'video:liked']);
      assert.equal(feed[0]!.videoId, v.id);
    });

    it('recovers missed comments after a reconnect, exactly once and in order', async () => {
      const a = await newUser(server, 'ra');
      const v = await a.http.createVideo({ title: 'recover' });
      const writer = await connect(a.token);
      const reader = await connect();
      await reader.watch(v.id);
      const got: string[] = [];
      reader.on('comment', (c) => got.push(c.text));
      await writer.comment(v.id, 'before');
      await eventually(() => got.length === 1, 'first comment');
      reader.socket.io.engine.close(); // the network drops
      for (let i = 0; i < 4; i++) await writer.comment(v.id, `missed${i}`);
      await eventually(() => reader.socket.connected, 'reconnect');
      await writer.comment(v.id, 'after');
      await eventually(() => got.includes('after') && got.length >= 6, 'recovered comments');
      assert.deepEqual(got, ['before', 'missed0', 'missed1', 'missed2', 'missed3', 'after']);
    });

    it('starts over from a snapshot when the log no longer reaches back', async () => {
      const a = await newUser(server, 'rs');
      const v = await a.http.createVideo({ title: 'reset' });
      const writer = await connect(a.token);
      const reader = await connect();
      await reader.watch(v.id);
      const resets: number[] = [];
      reader.on('reset', (r) => resets.push(r.snapshot.latestComments.length));
      // offline for the whole flood: it must not reconnect halfway through and catch up live
      reader.socket.io.reconnection(false);
      reader.socket.io.engine.close();
      await eventually(() => !reader.socket.connected, 'the reader to be offline');
      for (let i = 0; i < 15; i++) await writer.comment(v.id, `flood${i}`); // > EVENT_LOG_MAX events
      reader.socket.io.reconnection(true);
      reader.socket.connect();
      await eventually(() => resets.length === 1, 'reset');
      assert.equal(resets[0], 15);
    });

    it('answers unknown events and malformed payloads with error acks and keeps serving', async () => {
      const u = await newUser(server, 'bad');
      const c = await connect(u.token);
      const raw = c.socket as unknown as { timeout(ms: number): { emitWithAck(e: string, ...a: unknown[]): Promise<{ ok: boolean; code?: string }> } };
      const unknown = await raw.timeout(2000).emitWithAck('video:explode', {});
      assert.deepEqual([unknown.ok, unknown.code], [false, 'E_UNKNOWN_EVENT']);
      const notObject = await raw.timeout(2000).emitWithAck('video:like', 42);
      assert.deepEqual([notObject.ok, notObject.code], [false, 'E_VALIDATION']);
      const noId = await raw.timeout(2000).emitWithAck('comment:add', { text: 'x' });
      assert.deepEqual([noId.ok, noId.code], [false, 'E_VALIDATION']);
      const badId = await raw.timeout(2000).emitWithAck('video:like', { videoId: '../../etc' });
      assert.deepEqual([badId.ok, badId.code], [false, 'E_VALIDATION']);
      const badOffset = await raw.timeout(2000).emitWithAck('video:watch', { videoId: '0000000000000', sinceOffset: -1 });
      assert.equal(badOffset.code, 'E_VALIDATION');
      const missing = await raw.timeout(2000).emitWithAck('video:watch', { videoId: '0000000000000' });
      assert.equal(missing.code, 'E_VIDEO_NOT_FOUND');
      assert.equal(c.socket.connected, true);
      assert.equal((await fetch(new URL('/healthz', server.url))).status, 200);
    });
  });
}

describe('live limits', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer({ SOCKET_MAX_WATCHES: '2', USER_MAX_SOCKETS: '1', SOCKET_EVENTS_PER_SEC: '5', SOCKET_MAX_PAYLOAD_BYTES: '2048' });
  });
  after(async () => server.close());

  it('limits watches per socket, sockets per user, and events per second', async () => {
    const u = await newUser(server);
    const vids = await Promise.all([1, 2, 3].map((i) => u.http.createVideo({ title: `v${i}` })));
    const c = await liveClient(server, { token: u.token });
    try {
      await c.watch(vids[0]!.id);
      await c.watch(vids[1]!.id);
      await assert.rejects(c.watch(vids[2]!.id), (e) => codeOf(e) === 'E_TOO_MANY_WATCHES');
      const second = new LiveClient({ url: server.url, token: u.token });
      await assert.rejects(second.connect(), (e) => codeOf(e) === 'E_TOO_MANY_CONNECTIONS');
      second.close();
      // a socket of its own, whose rate window opens with its first event
      const burst = await liveClient(server, { token: (await newUser(server)).token });
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => burst.like(vids[0]!.id)));
      burst.close();
      const limited = results.filter((r) => r.status === 'rejected' && codeOf(r.reason) === 'E_RATE_LIMITED');
      assert.ok(limited.length >= 3, `expected refusals, got ${limited.length}`);
    } finally {
      c.close();
    }
  });

  it('drops a connection that sends a frame above the payload limit, and keeps serving others', async () => {
    const u = await newUser(server);
    const c = await liveClient(server, { token: u.token });
    const disconnected = new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
    c.socket.emit('comment:add', { videoId: '0000000000000', text: 'x'.repeat(10_000), idempotencyKey: 'k' }, () => {});
    assert.match(await disconnected, /close|error/);
    c.close();
    assert.equal((await fetch(new URL('/healthz', server.url))).status, 200);
  });

  it('refuses anonymous sockets when LIVE_ALLOW_ANONYMOUS is off', async () => {
    const strict = await startServer({ LIVE_ALLOW_ANONYMOUS: 'false' });
    try {
      const c = new LiveClient({ url: strict.url });
      await assert.rejects(c.connect(), (e) => codeOf(e) === 'E_TOKEN_MISSING');
      c.close();
    } finally {
      await strict.close();
    }
  });
});

describe('live connection state', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer({ SOCKET_MAX_WATCHES: '2' });
  });
  after(async () => server.close());

  it('lets the HTTP request that opened a WebSocket be collected while the socket stays', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let opened: WeakRef<IncomingMessage> | undefined;
    const onUpgrade = (req: IncomingMessage) => (opened = new WeakRef(req));
    server.app.server.on('upgrade', onUpgrade);
    const c = await liveClient(server); // the SDK connects with a WebSocket straight away
    server.app.server.off('upgrade', onUpgrade);
    try {
      assert.ok(opened, 'the client connected with a WebSocket upgrade');
      await eventually(async () => {
        gc();
        await new Promise((r) => setImmediate(r));
        return opened!.deref() === undefined;
      }, 'the upgrade request to be garbage-collected', 5000);
      const v = await (await newUser(server)).http.createVideo({ title: 'still live' });
      assert.equal((await c.watch(v.id)).snapshot.counters.likes, 0, 'and the socket still works');
    } finally {
      c.close();
    }
  });

  it('counts watches from the socket rooms: unwatching frees a slot, concurrent watches never overshoot', async () => {
    const u = await newUser(server);
    const vids = await Promise.all([1, 2, 3].map((i) => u.http.createVideo({ title: `w${i}` })));
    const c = await liveClient(server, { token: u.token });
    try {
      await c.watch(vids[0]!.id);
      await c.watch(vids[1]!.id);
      await c.watch(vids[1]!.id); // again: takes no second slot
      await assert.rejects(c.watch(vids[2]!.id), (e) => codeOf(e) === 'E_TOO_MANY_WATCHES');
      await c.unwatch(vids[0]!.id);
      await c.watch(vids[2]!.id);
      await c.unwatch(vids[1]!.id);
      await c.unwatch(vids[2]!.id);
      const results = await Promise.allSettled(vids.map((v) => c.watch(v.id)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
      const refused = results.filter((r) => r.status === 'rejected');
      assert.deepEqual(refused.map((r) => codeOf(r.reason)), ['E_TOO_MANY_WATCHES']);
    } finally {
      c.close();
    }
  });
});

describe('live delivery to a big room', () => {
  it('writes a counter update to every watcher when the room is delivered in slices', async () => {
    const server = await startServer({ LIVE_BROADCAST_SLICE: '2', LIVE_COUNTER_INTERVAL_MS: '10' });
    const watchers: LiveClient[] = [];
    try {
      const author = await newUser(server);
      const video = await author.http.createVideo({ title: 'sliced' });
      const latest = new Map<LiveClient, CounterPayload>();
      for (let i = 0; i < 7; i++) {
        const w = await liveClient(server); // anonymous watchers
        watchers.push(w);
        w.on('counters', (c) => latest.set(w, c));
        await w.watch(video.id);
      }
      const likers = await Promise.all([1, 2, 3].map(() => newUser(server)));
      for (const l of likers) await l.http.like(video.id);
      await eventually(async () => watchers.every((w) => latest.get(w)?.likes === 3), 'all 7 watchers (4 slices) to see 3 likes', 5000);
    } finally {
      for (const w of watchers) w.close();
      await server.close();
    }
  });
});

describe('live sessions', () => {
  it('disconnects a socket whose token expires; the SDK refreshes and keeps watching', async () => {
    // token expiry is on the server's clock, which the test moves
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const server = await startServer({}, { clock });
    try {
      const owner = await newUser(server);
      const v = await owner.http.createVideo({ title: 'expiring' });
      const service = new TokenService(
        {
          secret: server.config.jwtSecret,
          issuer: server.config.jwtIssuer,
          audience: server.config.jwtAudience,
          ttlS: server.config.jwtTtlS,
        },
        { clock },
      );
      const nowS = clock.now() / 1000;
      const short = await service.issue({ id: owner.id, handle: owner.handle }, nowS - server.config.jwtTtlS + 2);
      let refreshed = 0;
      const c = await liveClient(server, {
        token: short.token,
        refreshToken: async () => {
          refreshed++;
          return (await service.issue({ id: owner.id, handle: owner.handle })).token;
        },
      });
      await c.watch(v.id);
      const reconnected = new Promise<void>((resolve) => c.once('reconnected', () => resolve()));
      clock.advance(2000); // the short token's exp
      await reconnected;
      assert.equal(refreshed, 1);
      const like = await c.like(v.id);
      assert.equal(like.changed, true);
      c.close();
    } finally {
      await server.close();
    }
  });

  it('tells sockets to reconnect on graceful shutdown', async () => {
    const server = await startServer();
    const c = await liveClient(server);
    const notice = new Promise<number>((resolve) => c.socket.once('server:shutdown', (p) => resolve(p.retryAfterMs)));
    await server.close();
    assert.ok((await notice) > 0);
    c.close();
  });

  it('interoperates with a plain socket.io-client using a msgpack parser', async () => {
    const server = await startServer({ SOCKET_PARSER: 'msgpack' });
    try {
      const owner = await newUser(server);
      const v = await owner.http.createVideo({ title: 'interop' });
      const socket = rawIo(server.url, { transports: ['websocket'], parser: msgpackParser, auth: { token: owner.token } });
      const reply = (await socket.timeout(5000).emitWithAck('video:like', { videoId: v.id })) as { ok: boolean; counters: { likes: number } };
      assert.equal(reply.ok, true);
      assert.equal(reply.counters.likes, 1);
      socket.close();
    } finally {
      await server.close();
    }
  });
});
