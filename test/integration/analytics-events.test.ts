/**
 * Client-reported behaviour and creator analytics against a real server and a private
 * ClickHouse 18.16: what clients report is checked (malformed, oversized, future-dated and
 * another user's events are refused with catalog codes and never reach the export), what is
 * accepted and every acknowledged interaction become rows, and the owner's analytics are
 * answered from them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BehaviourLog } from '../../src/storage/clickhouse/behaviour-log.ts';
import type { Tremolo } from '../../src/main.ts';
import { startClickHouse, type PrivateServer } from '../helpers/clickhouse.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );

describe('behaviour events and creator analytics (ClickHouse)', () => {
  let clickhouse: PrivateServer;
  let server: Tremolo;
  let rows: BehaviourLog;
  const database = `t${process.pid}`;

  before(async () => {
    clickhouse = await startClickHouse();
    server = await startServer({
      CLICKHOUSE_URL: clickhouse.url,
      CLICKHOUSE_DATABASE: database,
      EXPORT_BATCH_WAIT: '20ms',
      PROGRESS_INTERVAL: '1h',
      EVENT_MAX_SKEW: '1m',
    });
    rows = await BehaviourLog.open({ url: clickhouse.url, database });
  });
  after(async () => {
    await rows?.close();
    await server?.close();
    await clickhouse?.cleanup();
  });

  /** Waits until the exporter has delivered everything recorded so far. */
  const exported = async () => {
    await eventually(async () => (await server.store.interactions.lag()).total === 0, 'the exporter to drain the log', 20_000);
  };

  it('refuses malformed, oversized, future-dated, foreign and too frequent progress with catalog codes; none of it is exported', async () => {
    const owner = await newUser(server, 'own');
    const viewer = await newUser(server, 'vw');
    const video = await owner.http.createVideo({ title: 'clip' });
    const ok = { videoId: video.id, watchedMs: 1000, positionMs: 1000, durationMs: 5000, completed: false };
    const live = await liveClient(server, { token: viewer.token });
    try {
      // over the socket
      assert.equal(await codeOf(live.progress({ ...ok, watchedMs: -1 })), 'E_VALIDATION');
      assert.equal(await codeOf(live.progress({ ...ok, positionMs: 6000 })), 'E_VALIDATION', 'past the end');
      assert.equal(await codeOf(live.progress({ ...ok, completed: 'yes' as unknown as boolean })), 'E_VALIDATION');
      assert.equal(await codeOf(live.progress({ ...ok, videoId: 'nope' })), 'E_VALIDATION');
      assert.equal(await codeOf(live.progress({ ...ok, videoId: '0000000000000' })), 'E_VIDEO_NOT_FOUND');
      // REST batches
      const at = Date.now();
      const post = (body: unknown, token = viewer.token) =>
        fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) }).then(
          async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string }; accepted?: number } }),
        );
      const refused = async (body: unknown, status: number, code: string) => {
        const r = await post(body);
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.equal(r.body.error?.code, code);
      };
      await refused({ events: [{ type: 'watch', ...ok, at: at + 3_600_000 }] }, 400, 'E_EVENT_TIME');
      await refused({ events: [{ type: 'watch', ...ok, at: at - 2 * 3_600_000 }] }, 400, 'E_EVENT_TIME');
      await refused({ events: [{ type: 'watch', ...ok, userId: owner.id }] }, 403, 'E_FORBIDDEN');
      await refused({ events: Array.from({ length: 51 }, () => ({ type: 'impression', videoId: video.id, feed: 'hot', position: 1 })) }, 400, 'E_VALIDATION');
      await refused({ events: [{ type: 'watch', ...ok, extra: 1 }] }, 400, 'E_VALIDATION');
      await refused({ events: [{ type: 'teleport', videoId: video.id }] }, 400, 'E_VALIDATION');
      await refused({ events: [{ type: 'impression', videoId: video.id, feed: 'hot', position: 1 }, { type: 'watch', ...ok, durationMs: 0 }] }, 400, 'E_VALIDATION');
      const big = await fetch(`${server.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${viewer.token}` },
        body: JSON.stringify({ events: [{ type: 'impression', videoId: video.id, feed: 'hot', position: 1, pad: 'x'.repeat(100_000) }] }),
      });
      assert.equal(big.status, 413);
      assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'E_PAYLOAD_TOO_LARGE');
      const anonymous = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events: [] }) });
      assert.equal(anonymous.status, 401);

      // one accepted report; a second of the same video within PROGRESS_INTERVAL is refused
      await live.progress(ok);
      assert.equal(await codeOf(live.progress({ ...ok, watchedMs: 2000, positionMs: 2000 })), 'E_RATE_LIMITED');
      await refused({ events: [{ type: 'watch', ...ok }] }, 429, 'E_RATE_LIMITED');
      await exported();
      const watches = await rows.countDistinct(`video_id = '${video.id}' AND type = 'watch'`);
      assert.deepEqual(watches, { rows: 1, distinct: 1 }, 'only the accepted report reached ClickHouse');
      assert.deepEqual(await rows.countDistinct(`video_id = '${video.id}' AND type = 'impression'`), { rows: 0, distinct: 0 });
    } finally {
      live.close();
    }
  });

  it('accepts a sendBeacon body (text/plain, token in the body) and an anonymous session\'s batch', async () => {
    const owner = await newUser(server, 'own');
    const viewer = await newUser(server, 'vw');
    const video = await owner.http.createVideo({ title: 'beacon' });
    const beacon = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ token: viewer.token, events: [{ type: 'impression', videoId: video.id, feed: 'following', position: 0 }, { type: 'watch', videoId: video.id, watchedMs: 3000, positionMs: 3000, durationMs: 3000, completed: true }] }),
    });
    assert.equal(beacon.status, 202);
    assert.deepEqual(await beacon.json(), { accepted: 2 });
    const anon = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId: 'session-abc-123', events: [{ type: 'impression', videoId: video.id, feed: 'hot', position: 4 }] }),
    });
    assert.equal(anon.status, 202);
    const badBeacon = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{not json' });
    assert.equal(badBeacon.status, 400);
    assert.equal(((await badBeacon.json()) as { error: { code: string } }).error.code, 'E_BAD_JSON');
    await exported();
    assert.equal((await rows.countDistinct(`video_id = '${video.id}'`)).distinct, 3);
    assert.equal((await rows.countDistinct(`video_id = '${video.id}' AND session_id = 'session-abc-123' AND feed = 'hot' AND feed_position = 4`)).distinct, 1);
  });

  it('answers the owner\'s analytics per bucket from ClickHouse; anyone else is refused', async () => {
    const owner = await newUser(server, 'own');
    const video = await owner.http.createVideo({ title: 'charted' });
    const viewers = await Promise.all([1, 2, 3].map(() => newUser(server, 'fan')));
    for (const [i, v] of viewers.entries()) {
      const live = await liveClient(server, { token: v.token });
      try {
        await live.watch(video.id); // counts a view
        await live.progress({ videoId: video.id, watchedMs: 2000 * (i + 1), positionMs: 2000 * (i + 1), durationMs: 6000, completed: i === 2 });
        if (i < 2) await live.like(video.id);
        if (i === 0) await live.comment(video.id, 'nice');
        await live.follow(owner.id);
      } finally {
        live.close();
      }
    }
    await exported();
    const a = await owner.http.analytics(video.id, { bucket: 'hour', from: new Date(Date.now() - 3_600_000).toISOString() });
    assert.equal(a.source, 'clickhouse');
    assert.equal(a.bucket, 'hour');
    const t = a.totals as { views: number; uniqueViewers: number; avgWatchMs: number; completionRate: number; likes: number; likeRate: number; comments: number; followersGained: number };
    assert.deepEqual(
      { views: t.views, uniqueViewers: t.uniqueViewers, avgWatchMs: t.avgWatchMs, likes: t.likes, comments: t.comments, followersGained: t.followersGained },
      { views: 3, uniqueViewers: 3, avgWatchMs: 4000, likes: 2, comments: 1, followersGained: 3 },
    );
    assert.ok(Math.abs(t.completionRate - 1 / 3) < 1e-9);
    assert.ok(Math.abs(t.likeRate - 2 / 3) < 1e-9);
    assert.ok(a.buckets.length >= 1 && a.buckets.length <= 2, 'one or two hours');
    assert.equal(a.buckets.reduce((n, b) => n + b.views, 0), 3);

    assert.equal(await codeOf(viewers[0]!.http.analytics(video.id)), 'E_FORBIDDEN');
    assert.equal(await codeOf(owner.http.analytics(video.id, { bucket: 'minute' as 'hour' })), 'E_VALIDATION');
    assert.equal(await codeOf(owner.http.analytics(video.id, { bucket: 'hour', from: '2020-01-01T00:00:00Z' })), 'E_VALIDATION', 'too many buckets');
  });
});

describe('creator analytics without ClickHouse', () => {
  it('answers the totals storage holds, marked source: counters', async () => {
    const server = await startServer();
    try {
      const owner = await newUser(server, 'own');
      const fan = await newUser(server, 'fan');
      const video = await owner.http.createVideo({ title: 'plain' });
      await fan.http.like(video.id);
      const a = await owner.http.analytics(video.id);
      assert.equal(a.source, 'counters');
      assert.deepEqual(a.totals, { views: 0, likes: 1, comments: 0 });
      assert.deepEqual(a.buckets, []);
    } finally {
      await server.close();
    }
  });
});
