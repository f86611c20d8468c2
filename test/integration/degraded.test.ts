/**
 * Storage outages under a running server: the circuit breaker opens, reads answer from
 * cache marked degraded, writes fail fast with 503, and everything recovers when Redis
 * is back. Uses a private redis-server that the test stops and restarts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TremoloClientError } from '../../src/client/live-client.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { randomPrefix, startRedis } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

describe('storage outage', () => {
  it('degrades reads to cache, fails writes fast, and recovers', async () => {
    const redis = await startRedis({ persist: true });
    // cache expiry is on the server's clock, moved by the test
    const clock = new ManualClock(Date.now());
    const server = await startServer(
      {
        STORAGE: 'redis',
        REDIS_URL: redis.url,
        REDIS_PREFIX: randomPrefix('degraded'),
        STORAGE_TIMEOUT: '300ms',
        CACHE_TTL_MS: '100',
      },
      { clock },
    );
    try {
      const alice = await newUser(server, 'deg');
      const bob = await newUser(server, 'deg');
      await bob.http.follow(alice.id);
      const video = await alice.http.createVideo({ title: 'outage' });
      await alice.http.like(video.id);
      assert.equal((await alice.http.getVideo(video.id)).counters.likes, 1); // now cached
      await alice.http.user(alice.id); // and so is the profile
      await server.engine.feed.idle();
      assert.equal((await bob.http.feed()).items[0]?.id, video.id); // and bob's feed

      await redis.stop();
      clock.advance(150); // past the cache TTL

      const res = await fetch(new URL(`/v1/videos/${video.id}`, server.url));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-degraded'), '1');
      const body = (await res.json()) as { degraded: boolean; counters: { likes: number } };
      assert.equal(body.degraded, true);
      assert.equal(body.counters.likes, 1);

      const profile = await fetch(new URL(`/v1/users/${alice.id}`, server.url));
      assert.equal(profile.status, 200, 'profiles read before the outage are served too');

      const feed = await fetch(new URL('/v1/feed', server.url), { headers: { authorization: `Bearer ${bob.token}` } });
      assert.equal(feed.status, 200, 'so are feed pages');
      assert.equal(feed.headers.get('x-degraded'), '1');
      const page = (await feed.json()) as { degraded: boolean; items: { id: string; counters: { likes: number }; likedByMe?: boolean }[] };
      assert.equal(page.degraded, true);
      assert.deepEqual(
        page.items.map((v) => [v.id, v.counters.likes, v.likedByMe]),
        [[video.id, 1, undefined]],
        'with the last known counters, and no likedByMe (that needs storage)',
      );

      for (let i = 0; i < 4; i++) {
        await assert.rejects(alice.http.comment(video.id, `lost ${i}`), (e: TremoloClientError & { status: number; retryAfter: string }) => {
          assert.equal(e.code, 'E_STORAGE_UNAVAILABLE');
          assert.equal(e.status, 503);
          assert.ok(Number(e.retryAfter) >= 1);
          return true;
        });
      }
      const ready = await fetch(new URL('/readyz', server.url));
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { checks: { storage: { status: string } } }).checks.storage.status, 'DOWN');
      const unseen = await fetch(new URL(`/v1/users/0000000000001`, server.url));
      assert.equal(unseen.status, 503, 'nothing cached to fall back on: 503, not 500');

      await redis.start();
      await eventually(
        async () => {
          const r = await fetch(new URL(`/v1/videos/${video.id}/like`, server.url), {
            method: 'DELETE',
            headers: { authorization: `Bearer ${alice.token}` },
          });
          return r.status === 200;
        },
        'writes to work again once the breaker closes',
        15_000,
      );
      const after = await alice.http.getVideo(video.id);
      assert.equal(after.degraded, undefined);
      assert.equal(after.counters.likes, 0);
      const comments = await alice.http.comments(video.id);
      assert.equal(comments.items.length, 0, 'no refused write was applied');
      assert.equal((await fetch(new URL('/readyz', server.url))).status, 200);
    } finally {
      await server.close();
      await redis.stop();
    }
  });
});
