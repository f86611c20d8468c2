/**
 * The load tester against real servers (memory, and two processes' worth of servers on
 * Redis driven by two shard processes): short runs with small numbers, checking the
 * report's counts against the server, the final check, and that a server which loses
 * acknowledged writes is caught with the numbers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { HttpClient } from '../../src/client/http-client.ts';
import { runLoadtest, type LoadtestReport } from '../../src/loadtest/index.ts';
import type { Tremolo } from '../../src/main.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { startServer } from '../helpers/server.ts';

/** What a load-test target needs: limits far above what the run sends. */
const LOAD_ENV = { SOCKET_EVENTS_PER_SEC: '1000', USER_EVENTS_PER_SEC: '1000', USER_MAX_SOCKETS: '100' };
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tremolo-loadtest-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Totals the server itself reports for the run's videos. */
async function serverTotals(url: string, report: LoadtestReport, videos: string[]): Promise<{ likes: number; comments: number; listed: number }> {
  const http = new HttpClient(url);
  let likes = 0;
  let comments = 0;
  let listed = 0;
  for (const id of videos) {
    const v = await http.getVideo(id);
    likes += v.counters.likes;
    comments += v.counters.comments;
    let cursor: string | undefined;
    do {
      const page = await http.comments(id, { limit: 100, ...(cursor ? { cursor } : {}) });
      listed += page.items.length;
      cursor = page.nextCursor;
    } while (cursor);
  }
  assert.ok(report.setup.videos === videos.length);
  return { likes, comments, listed };
}

function assertSelfContained(html: string, targets: string[]): void {
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<svg /);
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import/i);
  // the only URLs in the page are the targets, quoted as text
  for (const url of html.match(/https?:\/\/[^\s"<&,]+/g) ?? []) assert.ok(targets.includes(url), `external URL in the report: ${url}`);
}

describe('tremolo loadtest on the memory store', () => {
  let server: Tremolo;
  const sources = new Set<string>();
  before(async () => {
    server = await startServer(LOAD_ENV);
    server.gateway.io.on('connection', (s) => sources.add(s.handshake.address.replace(/^::ffff:/, '')));
  });
  after(() => server.close());

  it('interact: counts match the server, nothing lost, latency measured, HTML self-contained', async () => {
    let videos: string[] = [];
    const progress: number[] = [];
    const jsonPath = join(dir, 'interact.json');
    const htmlPath = join(dir, 'interact.html');
    const report = await runLoadtest(
      {
        targets: [server.url],
        metrics: server.metricsUrl ? [server.metricsUrl] : [],
        scenario: 'interact',
        durationMs: 2500,
        users: 12,
        accounts: 6,
        videos: 3,
        likeRate: 2,
        commentRate: 1,
        commentResend: 0.3,
        commentLikeRate: 2,
        replyShare: 0.5,
        rampMs: 200,
        sourceAddresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3'],
        jsonPath,
        htmlPath,
      },
      { onProgress: (p) => progress.push(p.t), beforeVerify: async (f) => void (videos = f.videos) },
    );
    assert.equal(report.ok, true, JSON.stringify(report.verify));
    assert.equal(report.verify.lost, 0);
    assert.equal(report.verify.duplicates, 0);
    assert.equal(report.connections.established, 12);
    assert.deepEqual(report.connections.failed, {});
    assert.ok(progress.length >= 2, 'progress is reported every second');

    // what the report says was acknowledged is what the server holds
    const totals = await serverTotals(server.url, report, videos);
    assert.equal(report.verify.likes.uncertain, 0);
    assert.equal(totals.likes, report.verify.likes.liked);
    assert.ok(report.verify.comments.acknowledged > 0);
    assert.equal(totals.listed, report.verify.comments.acknowledged);
    assert.equal(totals.comments, report.verify.comments.acknowledged);
    // re-sent keys were acknowledged again as duplicates, not stored twice
    assert.ok(report.writes.commentsResent > 0);
    assert.equal(report.writes.commentAcks, report.verify.comments.acknowledged + report.writes.commentsResent);
    assert.ok((report.acks['video:like']?.ok ?? 0) > 0);
    // comment likes and replies were made and the final check covered them
    assert.ok(report.verify.commentLikes.pairs > 0, 'comment likes were acknowledged');
    assert.equal(report.verify.commentLikes.countShortfall + report.verify.commentLikes.countExcess, 0);
    assert.ok(report.verify.replies.acknowledged > 0, 'replies were acknowledged');
    assert.equal(report.verify.replies.lost + report.verify.replies.duplicates, 0);
    assert.ok((report.acks['comment:like']?.ok ?? 0) > 0);

    assert.ok(report.latency.likeToCounter.count > 0, 'like -> counter latency measured');
    assert.ok(report.latency.commentDelivery.count > 0, 'comment -> delivery latency measured');
    assert.ok(report.latency.commentDelivery.p99 >= report.latency.commentDelivery.p50);
    assert.ok(report.delivery.events > 0);
    assert.equal(report.delivery.commentDeliveriesMissed, 0);
    assert.ok(report.server[0]?.available && report.server[0].peakRssMb > 0, 'server RSS read from its metrics listener');

    // sockets came from every source address
    assert.deepEqual([...sources].sort(), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);

    const written = JSON.parse(await readFile(jsonPath, 'utf8')) as LoadtestReport;
    assert.equal(written.verify.comments.acknowledged, report.verify.comments.acknowledged);
    assertSelfContained(await readFile(htmlPath, 'utf8'), [server.url]);
  });

  it('feed and connect-storm: REST rates and churned connections are counted', async () => {
    const feed = await runLoadtest({ targets: [server.url], scenario: 'feed', durationMs: 1500, users: 6, accounts: 6, videos: 4, httpRate: 10 });
    assert.equal(feed.ok, true);
    assert.ok(feed.http.requests > 10, `${feed.http.requests} requests`);
    assert.deepEqual(feed.http.errors, {});
    assert.equal(feed.latency.http.count, feed.http.requests);

    const storm = await runLoadtest({ targets: [server.url], scenario: 'connect-storm', durationMs: 2000, users: 8, accounts: 4, videos: 3, rampMs: 500, churnMs: 300 });
    assert.equal(storm.ok, true);
    assert.ok(storm.connections.established > 8, `churn opens more than ${storm.connections.established} connections`);
    assert.equal(storm.connections.closed, storm.connections.established);
    assert.ok(storm.connections.peakOpen <= 8);
    assert.equal(storm.latency.connect.count, storm.connections.established);
  });

  it('fails with the numbers when the server loses acknowledged writes', async () => {
    const report = await runLoadtest(
      {
        targets: [server.url],
        scenario: 'interact',
        durationMs: 1500,
        users: 6,
        accounts: 3,
        videos: 2,
        likeRate: 3,
        commentRate: 2,
        commentLikeRate: 3,
        replyShare: 0,
        commentResend: 0,
        rampMs: 100,
        verifySettleMs: 1500,
      },
      {
        // behind the API's back, storage loses two acknowledged comments and one like op
        beforeVerify: async (f, ledgers) => {
          const store = server.store.videos;
          const acked = ledgers.flatMap((l) => l.comments).slice(0, 2);
          assert.equal(acked.length, 2, 'the run acknowledged comments');
          // one acknowledged comment like (on a comment kept) is taken back
          const kept = new Set(acked.map((c) => c.id));
          const liked = ledgers.flatMap((l) => l.commentLikes).find(([, id, state]) => state === 'liked' && !kept.has(id));
          assert.ok(liked, 'the run acknowledged comment likes');
          const [la, commentId] = liked;
          await store.applyOps(commentId.slice(0, 13), [{ type: 'unlikeComment', commentId, userId: f.accounts[la]?.id ?? '' }], { now: Date.now() });
          for (const c of acked) {
            const author = (await store.comments(c.videoId, 'oldest', { limit: 100 })).items.find((x) => x.id === c.id)?.authorId ?? '';
            await store.applyOps(c.videoId, [{ type: 'deleteComment', commentId: c.id, userId: author }], { now: Date.now() });
          }
          // the last acknowledged op on a pair is undone: a like removed, or an unlike reverted
          const pair = ledgers.flatMap((l) => l.likes).find(([, , state]) => state !== 'uncertain');
          assert.ok(pair, 'the run acknowledged likes');
          const [a, v, state] = pair;
          const op = state === 'liked' ? 'unlike' : 'like';
          await store.applyOps(f.videos[v] ?? '', [{ type: op, userId: f.accounts[a]?.id ?? '' }], { now: Date.now() });
        },
      },
    );
    assert.equal(report.ok, false);
    assert.equal(report.verify.comments.lost, 2);
    assert.equal(report.verify.likes.lostLikes + report.verify.likes.lostUnlikes, 1);
    assert.equal(report.verify.commentLikes.countShortfall, 1, 'the lost comment like is found');
    assert.ok(report.verify.lost >= 4, `lost ${report.verify.lost}`);
    assert.ok(report.verify.examples.some((e) => /^comment .*: like count/.test(e)));
    assert.ok(report.verify.examples.some((e) => e.startsWith('lost comment')));
  });
});

describe('tremolo loadtest on Redis: two servers, two shard processes', () => {
  let redis: Redis;
  let servers: Tremolo[];
  const prefix = randomPrefix('loadtest');
  before(async () => {
    redis = await connectRedis();
    const env = { ...LOAD_ENV, STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix };
    servers = [await startServer({ ...env, NODE_ID: '1' }), await startServer({ ...env, NODE_ID: '2' })];
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('mixed over two targets: nothing lost, deliveries cross processes', async () => {
    let videos: string[] = [];
    const report = await runLoadtest(
      { targets: servers.map((s) => s.url), metrics: servers.map((s) => s.metricsUrl ?? ''), scenario: 'mixed', durationMs: 3000, users: 16, accounts: 8, videos: 3, dwellMs: 600, processes: 2, rampMs: 300, zipf: 1.2 },
      { beforeVerify: async (f) => void (videos = f.videos) },
    );
    assert.equal(report.ok, true, JSON.stringify(report.verify));
    assert.equal(report.options.processes, 2);
    assert.equal(report.server.length, 2);
    assert.ok(report.server.every((s) => s.available));
    const acks = report.acks['video:like']?.ok ?? 0;
    assert.ok(acks + (report.acks['video:unlike']?.ok ?? 0) > 0, 'likes were sent');
    assert.ok(report.http.requests > 0, 'feed readers were active');
    const totals = await serverTotals(servers[1]?.url ?? '', report, videos);
    assert.equal(totals.likes, report.verify.likes.liked);
    assert.equal(totals.listed, report.verify.comments.acknowledged);
    // users are spread round-robin over both servers, so viewers on one see writes made on the other
    assert.ok(report.delivery.events > 0);
  });

  it('the CLI exits 1 and prints the numbers when acknowledged comments go missing', async () => {
    // storage that loses every comment after acknowledging it (read back through the real API)
    const s = servers[0] as Tremolo;
    const comments = s.store.videos.comments.bind(s.store.videos);
    s.store.videos.comments = async () => ({ items: [] });
    const out = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', MAIN, 'loadtest', '--target', s.url, '--metrics', s.metricsUrl ?? '', '--scenario', 'interact', '--duration', '1500ms', '--users', '4', '--videos', '2', '--comment-rate', '3', '--like-rate', '0', '--json', join(dir, 'cli.json'), '--html', join(dir, 'cli.html')],
        { encoding: 'utf8', timeout: 60_000 },
        (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
      );
    });
    s.store.videos.comments = comments;
    assert.equal(out.code, 1, out.stdout);
    const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; verify?: LoadtestReport['verify'] });
    assert.ok(lines.some((l) => l.type === 'progress'), 'not a TTY: progress as JSON lines');
    const last = lines.at(-1);
    assert.equal(last?.type, 'report');
    assert.ok((last?.verify?.comments.acknowledged ?? 0) > 0);
    assert.equal(last?.verify?.comments.lost, last?.verify?.comments.acknowledged);
    assert.equal(last?.verify?.ok, false);
    assertSelfContained(await readFile(join(dir, 'cli.html'), 'utf8'), [s.url]);
  });
});
