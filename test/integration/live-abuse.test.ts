/**
 * Views and sockets cannot be had for free (issue 13, finding 7): real socket.io-client
 * sockets from distinct loopback addresses (127.0.0.x), or through a trusted proxy's
 * X-Forwarded-For, against a real server on both storage drivers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { LiveClient, TremoloClientError } from '../../src/client/live-client.ts';
import type { Tremolo } from '../../src/main.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

const codeOf = (e: unknown) => (e as TremoloClientError).code;

/** A connected SDK client whose socket comes from `from`, with optional handshake headers. */
async function connectFrom(server: Tremolo, from: string, opts: { token?: string; headers?: Record<string, string> } = {}): Promise<LiveClient> {
  const client = new LiveClient({
    url: server.url,
    ...(opts.token ? { token: opts.token } : {}),
    socket: { localAddress: from, reconnection: false, ...(opts.headers ? { extraHeaders: opts.headers } : {}) },
  });
  try {
    await client.connect();
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

for (const storage of ['memory', 'redis'] as const) {
  describe(`anonymous views (${storage})`, () => {
    let server: Tremolo;
    let redis: Redis | undefined;
    const prefix = randomPrefix('views');
    before(async () => {
      if (storage === 'redis') redis = await connectRedis();
      server = await startServer(storage === 'redis' ? { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix } : {});
    });
    after(async () => {
      await server.close();
      if (redis) {
        await dropPrefix(redis, prefix);
        redis.disconnect();
      }
    });

    it('count once per connection and per address within VIEW_DEDUP_S, however often they re-watch', async () => {
      const owner = await newUser(server);
      const video = await owner.http.createVideo({ title: 'inflate me' });
      const clients: LiveClient[] = [];
      try {
        // the attack: 5 anonymous sockets from one address, each re-watching 8 times
        for (let s = 0; s < 5; s++) {
          const c = await connectFrom(server, '127.0.0.2');
          clients.push(c);
          for (let i = 0; i < 8; i++) {
            await c.watch(video.id);
            await c.unwatch(video.id);
          }
        }
        // another anonymous viewer, and a signed-in one, each count
        const other = await connectFrom(server, '127.0.0.3');
        clients.push(other);
        await other.watch(video.id);
        const signedIn = await connectFrom(server, '127.0.0.2', { token: owner.token });
        clients.push(signedIn);
        await signedIn.watch(video.id);
        // every view was handed to the video's actor before its watch was acknowledged, and a
        // read queues behind them, so this snapshot includes them all
        assert.equal((await server.engine.snapshot(video.id)).counters.views, 3);
      } finally {
        for (const c of clients) c.close();
      }
    });
  });
}

describe('sockets per address', () => {
  it('are capped at SOCKET_MAX_PER_IP, anonymous or signed in; the place frees when a socket closes', async () => {
    const server = await startServer({ SOCKET_MAX_PER_IP: '3' });
    const clients: LiveClient[] = [];
    try {
      const user = await newUser(server);
      for (let i = 0; i < 3; i++) clients.push(await connectFrom(server, '127.0.0.2'));
      await assert.rejects(connectFrom(server, '127.0.0.2'), (e) => codeOf(e) === 'E_TOO_MANY_CONNECTIONS');
      await assert.rejects(connectFrom(server, '127.0.0.2', { token: user.token }), (e) => codeOf(e) === 'E_TOO_MANY_CONNECTIONS');
      clients.push(await connectFrom(server, '127.0.0.3'));

      // a burst of concurrent handshakes from one address cannot overshoot the cap
      const burst = await Promise.allSettled(Array.from({ length: 10 }, () => connectFrom(server, '127.0.0.4')));
      for (const r of burst) if (r.status === 'fulfilled') clients.push(r.value);
      assert.equal(burst.filter((r) => r.status === 'fulfilled').length, 3);
      for (const r of burst) if (r.status === 'rejected') assert.equal(codeOf(r.reason), 'E_TOO_MANY_CONNECTIONS');

      clients.shift()!.close();
      let again: LiveClient | undefined;
      await eventually(async () => {
        again = await connectFrom(server, '127.0.0.2').catch(() => undefined);
        return again !== undefined;
      }, 'a place to free up for 127.0.0.2', 5000);
      clients.push(again!);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it('count each client behind a trusted proxy separately, and ignore X-Forwarded-For from anyone else', async () => {
    const A = { 'x-forwarded-for': '203.0.113.7' };
    const B = { 'x-forwarded-for': '203.0.113.8' };
    const clients: LiveClient[] = [];
    const proxied = await startServer({ SOCKET_MAX_PER_IP: '1', TRUST_PROXY: '127.0.0.1' });
    try {
      clients.push(await connectFrom(proxied, '127.0.0.1', { headers: A }));
      await assert.rejects(connectFrom(proxied, '127.0.0.1', { headers: A }), (e) => codeOf(e) === 'E_TOO_MANY_CONNECTIONS');
      clients.push(await connectFrom(proxied, '127.0.0.1', { headers: B }));
      // 127.0.0.2 is not the trusted proxy: its header is ignored and it counts as itself
      clients.push(await connectFrom(proxied, '127.0.0.2', { headers: A }));
      await assert.rejects(connectFrom(proxied, '127.0.0.2', { headers: B }), (e) => codeOf(e) === 'E_TOO_MANY_CONNECTIONS');
    } finally {
      for (const c of clients) c.close();
      await proxied.close();
    }
  });
});
