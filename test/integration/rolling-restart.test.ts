/**
 * Rolling restart under load: three server processes on a private Redis, the load tester's
 * `mixed` scenario running against all three (sockets and REST readers spread over them), and
 * each process restarted in turn (SIGTERM, exit, start again on its port, /readyz) while the
 * load runs. Just before the first SIGTERM an author with a few thousand followers posts on
 * that process, so its fan-out is in flight when the process drains.
 *
 * What must hold: the load tester's final check finds no acknowledged write lost and none
 * applied twice, no watcher saw a gap (every comment reached every socket that watched the
 * video, across its reconnect to another process), every restarted process served load
 * traffic again, and the fan-out finished elsewhere with the post in every inbox exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { runLoadtest, type LoadtestReport } from '../../src/loadtest/index.ts';
import { RedisKeys } from '../../src/storage/redis/keys.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, freePort, randomPrefix, startRedis, type PrivateRedis } from '../helpers/redis.ts';
import { eventually, newUser } from '../helpers/server.ts';

const FOLLOWERS = 3000;

/** Sum of every series of a metric family's `_count` (or the family) in a Prometheus exposition. */
async function scrapeSum(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

describe('rolling restart of three processes under mixed load', () => {
  const prefix = randomPrefix('rolling');
  const keys = new RedisKeys(prefix);
  let redisServer: PrivateRedis;
  let redis: Redis;
  let store: RedisStore;
  const ports: { http: number; metrics: number }[] = [];
  const servers: ServerProcess[] = [];
  const env = (i: number) => ({
    STORAGE: 'redis',
    REDIS_URL: redisServer.url,
    REDIS_PREFIX: prefix,
    NODE_ID: String(61 + i),
    PORT: String(ports[i]!.http),
    METRICS_PORT: String(ports[i]!.metrics),
    // a load-test target: many virtual users share accounts and one source address
    SOCKET_EVENTS_PER_SEC: '1000',
    USER_EVENTS_PER_SEC: '1000',
    USER_MAX_SOCKETS: '100',
    // small pages, so the fan-out of FOLLOWERS is still running when its process drains
    FANOUT_BATCH: '5',
    FANOUT_POLL: '100ms',
    FANOUT_LEASE: '5s',
    SHUTDOWN_TIMEOUT: '10s',
  });
  /**
   * Process i on fresh ports. Another test running beside this one can take a port between
   * freePort() and the process's listen, so a port found taken is picked again (twice at most).
   */
  const firstStart = async (i: number): Promise<ServerProcess> => {
    for (let attempt = 1; ; attempt++) {
      ports[i] = { http: await freePort(), metrics: await freePort() };
      try {
        return await spawnServer(env(i));
      } catch (err) {
        if (attempt === 3 || !String(err).includes('EADDRINUSE')) throw err;
      }
    }
  };
  const metricsUrl = (i: number) => `http://127.0.0.1:${ports[i]!.metrics}/metrics`;

  before(async () => {
    redisServer = await startRedis();
    redis = await connectRedis(redisServer.url);
    store = new RedisStore({ redis, prefix, limits: { eventLogMax: 100, viewDedupS: 60 } });
  });
  after(async () => {
    await Promise.all(servers.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? s.stop() : undefined)));
    await redis.quit();
    await redisServer.stop();
  });

  it('loses no acknowledged write, duplicates none, leaves no watcher a gap, and hands the fan-out over', async (t) => {
    let mark = Date.now();
    const lap = (what: string) => {
      t.diagnostic(`${what}: ${Date.now() - mark} ms`);
      mark = Date.now();
    };
    servers.push(...(await Promise.all([0, 1, 2].map(firstStart))));
    lap('three processes started');

    // the author and followers of the fan-out that will be in flight at the first SIGTERM
    const author = await newUser(servers[0]!, 'rollauthor');
    const ids = new TsidGenerator({ nodeId: 69 });
    const followers = Array.from({ length: FOLLOWERS }, () => ids.next());
    const now = Date.now();
    for (let i = 0; i < followers.length; i += 500) {
      const chunk = followers.slice(i, i + 500);
      await Promise.all(
        chunk.map((id) => store.users.create({ id, handle: `r${id.toLowerCase()}`, displayName: 'r', bio: '', createdAt: new Date(now).toISOString(), passwordHash: 'x' })),
      );
      await Promise.all(chunk.map((id) => store.users.applyOps(id, [{ type: 'follow', targetId: author.id }], { now })));
    }
    lap(`${FOLLOWERS} followers seeded`);

    let acks = 0;
    let loadStarted = false;
    const stop = new AbortController();
    const targets = servers.map((s) => s.url);
    const run: Promise<LoadtestReport> = runLoadtest(
      {
        targets,
        metrics: [0, 1, 2].map(metricsUrl),
        scenario: 'mixed',
        durationMs: 180_000, // ended by `stop` once every process has been restarted
        users: 45,
        accounts: 15,
        videos: 6,
        dwellMs: 800,
        httpRate: 2,
        rampMs: 1000,
      },
      {
        signal: stop.signal,
        onProgress: (p) => {
          loadStarted = true;
          acks += p.rates.acksOk;
        },
      },
    );
    run.catch(() => undefined); // awaited below; a failure must not go unhandled while we restart
    const moreAcks = async (n: number, what: string) => {
      const from = acks;
      await eventually(() => acks >= from + n, what, 30_000);
    };
    await eventually(() => loadStarted, 'the load to start', 60_000);
    await moreAcks(40, 'acknowledged ops before the first restart');
    lap('load running');

    let fanoutBefore = -1;
    const member = { video: '' };
    for (let i = 0; i < 3; i++) {
      const server = servers[i]!;
      if (i === 0) {
        // a post on the process about to go: its fan-out runs there when SIGTERM comes
        const video = await author.http.createVideo({ title: 'posted during a rolling restart' });
        member.video = `${video.id}:${author.id}`;
        await eventually(async () => (await redis.hlen(keys.fanout().cursors)) > 0, 'the fan-out to record its first page', 30_000);
      }
      const exited = new Promise<number | null>((resolve) => server.child.once('exit', (code) => resolve(code)));
      server.child.kill('SIGTERM');
      if (i === 0) {
        const held = await redis.pipeline(followers.map((id) => ['zscore', keys.inbox(id), member.video])).exec();
        fanoutBefore = (held ?? []).filter(([, score]) => score !== null).length;
      }
      assert.equal(await exited, 0, `process ${i} exits cleanly on SIGTERM: ${server.output().slice(-2000)}`);
      lap(`process ${i} drained and exited`);
      servers[i] = await spawnServer(env(i));
      await eventually(async () => (await fetch(`${servers[i]!.url}/readyz`).catch(() => undefined))?.ok === true, `process ${i} to be ready again`, 60_000);
      lap(`process ${i} ready again`);
      await moreAcks(20, `acknowledged ops after restarting process ${i}`);
    }
    t.diagnostic(`the fan-out had reached ${fanoutBefore} of ${FOLLOWERS} inboxes when its process was told to stop`);

    // every restarted process serves the load again (REST readers come back to their target)
    for (let i = 0; i < 3; i++) {
      await eventually(async () => (await scrapeSum(metricsUrl(i), 'tremolo_http_request_duration_seconds_count')) > 0, `process ${i} to serve requests after its restart`, 30_000);
    }
    await moreAcks(20, 'acknowledged ops after the last restart');
    stop.abort();
    const report = await run;
    lap('load ended and checked');
    t.diagnostic(
      JSON.stringify({
        acks: report.acks,
        connections: report.connections,
        http: { requests: report.http.requests, errors: report.http.errors },
        gaps: report.gaps,
        counters: Object.fromEntries(Object.entries(report.counters).filter(([k]) => /retried|rerouted|reset|Missed/.test(k))),
      }),
    );

    assert.equal(report.verify.lost, 0, JSON.stringify(report.verify.examples));
    assert.equal(report.verify.duplicates, 0, JSON.stringify(report.verify.examples));
    assert.equal(report.gaps, 0, `comment deliveries missed ${report.delivery.commentDeliveriesMissed}, resets ${report.delivery.resets}`);
    assert.equal(report.ok, true);
    // the restarts did move sockets: every viewer of a restarted process reconnected elsewhere
    assert.ok(report.connections.dropped > 0 && report.connections.reconnected >= report.connections.dropped, JSON.stringify(report.connections));
    assert.ok(report.verify.likes.pairs > 0 && report.verify.comments.acknowledged > 0, 'likes and comments were acknowledged');

    // the fan-out went on elsewhere from where it was handed back: each inbox holds the post once
    assert.ok(fanoutBefore < FOLLOWERS, 'the fan-out was still running when its process was told to stop');
    await eventually(async () => (await store.fanout.lag()).waiting === 0, 'the fan-out to finish on another process', 30_000);
    const held = (await redis.pipeline(followers.map((id) => ['zscore', keys.inbox(id), member.video])).exec()) ?? [];
    assert.equal(held.filter(([, score]) => score === null).length, 0, 'every follower\u2019s inbox holds the post');
    const cards = ((await redis.pipeline(followers.map((id) => ['zcard', keys.inbox(id)])).exec()) ?? []).map(([, n]) => Number(n));
    assert.equal(cards.filter((n) => n !== 1).length, 0, 'one entry per inbox');
  });
});
