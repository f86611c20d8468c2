/**
 * The behaviour log's export survives its failures, against real Redis and a private
 * ClickHouse 18.16: an exporter SIGKILLed mid-batch and restarted, two exporters sharing the
 * streams through the consumer group while one is SIGKILLed holding a batch, and ClickHouse
 * stopped for 30 s under load. Afterwards every acknowledged interaction is a row exactly once (distinct
 * ids counted, duplicates collapsed by ReplacingMergeTree FINAL).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { BehaviourLog } from '../../src/storage/clickhouse/behaviour-log.ts';
import { EXPORT_GROUP } from '../../src/storage/redis/interactions.ts';
import { RedisKeys } from '../../src/storage/redis/keys.ts';
import { startClickHouse, type PrivateServer } from '../helpers/clickhouse.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';
import { TEST_SERVER_ENV } from '../helpers/server-env.ts';

const BIN = new URL('../../bin/tremolo.js', import.meta.url).pathname;

type User = Awaited<ReturnType<typeof newUser>>;

/** Interactions through the REST API; counts the events their acknowledgements promise. */
class Load {
  acknowledged = 0;
  failed = 0;

  constructor(private readonly users: User[]) {}

  /** Each user likes, comments on and reports watching each video. */
  async round(videos: string[]): Promise<void> {
    await Promise.all(
      this.users.map(async (u) => {
        for (const v of videos) {
          await this.count(u.http.like(v).then((r) => (r.changed ? 1 : 0)));
          await this.count(u.http.comment(v, 'hello').then(() => 1)); // a fresh idempotency key each: always a new comment
          await this.count(u.http.reportEvents({ events: [{ type: 'watch', videoId: v, watchedMs: 500, positionMs: 500, durationMs: 1000, completed: false }] }).then((r) => r.accepted));
        }
      }),
    );
  }

  /** A like and an unlike, again and again: two events per pair while it runs. */
  async toggle(video: string, until: () => boolean): Promise<void> {
    await Promise.all(
      this.users.map(async (u) => {
        while (!until()) {
          await this.count(u.http.like(video).then((r) => (r.changed ? 1 : 0)));
          await this.count(u.http.unlike(video).then((r) => (r.changed ? 1 : 0)));
        }
      }),
    );
  }

  private async count(p: Promise<number>): Promise<void> {
    try {
      const n = await p; // read before adding: `x += await p` would add to a stale x
      this.acknowledged += n;
    } catch {
      this.failed++; // not acknowledged: promises nothing
    }
  }
}

describe('export durability (Redis + ClickHouse)', () => {
  let clickhouse: PrivateServer;
  let rows: BehaviourLog;
  const prefix = randomPrefix('export');
  const database = `d${process.pid}`;

  before(async () => {
    clickhouse = await startClickHouse();
    rows = await BehaviourLog.open({ url: clickhouse.url, database });
  });
  after(async () => {
    await rows?.close();
    await clickhouse?.cleanup();
    const redis = await connectRedis();
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  const serverEnv = (extra: Record<string, string>) => ({
    STORAGE: 'redis',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    CLICKHOUSE_URL: clickhouse.url,
    CLICKHOUSE_DATABASE: database,
    ...extra,
  });

  it('an exporter SIGKILLed mid-batch and restarted leaves every acknowledged interaction a row exactly once', async () => {
    const server = await startServer(serverEnv({ EXPORT_IN_PROCESS: 'false' }));
    let exporter: ChildProcess | undefined;
    const startExporter = () => {
      const child = spawn(process.execPath, [BIN, 'export'], {
        // the restarted exporter is a new consumer: it takes the dead one's batch over after EXPORT_CLAIM_IDLE
        env: { ...process.env, ...TEST_SERVER_ENV, ...serverEnv({ EXPORT_BATCH_MAX: '20', EXPORT_BATCH_WAIT: '5ms', EXPORT_CLAIM_IDLE: '1s', METRICS_ENABLED: 'false', LOG_LEVEL: 'warn' }) },
        stdio: 'ignore',
      });
      exporter = child;
      return child;
    };
    try {
      const owner = await newUser(server, 'own');
      const videos = await Promise.all([1, 2, 3, 4].map((i) => owner.http.createVideo({ title: `v${i}` }).then((v) => v.id)));
      const users = await Promise.all(Array.from({ length: 12 }, () => newUser(server, 'fan')));
      const load = new Load(users);
      startExporter();
      const running = load.round(videos);
      // killed while it is exporting: some rows are in, more are coming
      await eventually(async () => (await rows.countDistinct()).distinct > 0, 'the first exported rows', 60_000);
      exporter!.kill('SIGKILL');
      await new Promise((r) => exporter!.once('exit', r));
      const atKill = await rows.countDistinct();
      await running;
      assert.equal(load.failed, 0);
      assert.ok((await server.store.interactions.lag()).total > 0, 'events wait in Redis while no exporter runs');
      startExporter();
      await eventually(async () => (await server.store.interactions.lag()).total === 0, 'the restarted exporter to drain the streams', 60_000);
      const final = await rows.countDistinct();
      assert.ok(atKill.distinct < load.acknowledged, `the exporter was killed before the end (${atKill.distinct} of ${load.acknowledged})`);
      assert.deepEqual(final, { rows: load.acknowledged, distinct: load.acknowledged }, 'every acknowledged interaction, once');
    } finally {
      exporter?.kill('SIGKILL');
      await server.close();
    }
  });

  it('two exporters share the streams through the consumer group; one SIGKILLed holding a batch: the other takes it over, every interaction a row once', async () => {
    const server = await startServer(serverEnv({ EXPORT_IN_PROCESS: 'false' }));
    const redis = await connectRedis();
    const keys = new RedisKeys(prefix);
    /** Events delivered to the group and not acknowledged, over every stream. */
    const pending = async () => {
      const tags = await redis.smembers(keys.interactionStreams());
      const counts = await Promise.all(tags.map((t) => redis.xpending(keys.interactionStream(t), EXPORT_GROUP).then((r) => Number((r as [number])[0]), () => 0)));
      return counts.reduce((a, b) => a + b, 0);
    };
    const exporters: ChildProcess[] = [];
    const startExporter = (env: Record<string, string>) => {
      const child = spawn(process.execPath, [BIN, 'export'], {
        env: { ...process.env, ...TEST_SERVER_ENV, ...serverEnv({ EXPORT_CLAIM_IDLE: '1s', METRICS_ENABLED: 'false', LOG_LEVEL: 'warn', ...env }) },
        stdio: 'ignore',
      });
      exporters.push(child);
      return child;
    };
    try {
      const before = await rows.countDistinct();
      const owner = await newUser(server, 'own');
      const videos = await Promise.all([1, 2, 3].map((i) => owner.http.createVideo({ title: `g${i}` }).then((v) => v.id)));
      const users = await Promise.all(Array.from({ length: 8 }, () => newUser(server, 'fan')));
      const load = new Load(users);
      // the victim gathers a big batch slowly, so it surely dies holding one; the survivor exports
      // as it comes. Both may come up after the load has written every event: if the victim reads
      // them all first, the survivor takes them over once idle (an exporter never claims its own
      // back, which once kept them from the survivor and made this test time out)
      const victim = startExporter({ EXPORT_BATCH_MAX: '100000', EXPORT_BATCH_WAIT: '10m' });
      startExporter({ EXPORT_BATCH_MAX: '50', EXPORT_BATCH_WAIT: '10ms' });
      const running = load.round(videos);
      await eventually(async () => (await rows.countDistinct()).distinct > before.distinct && (await pending()) > 0, 'rows from the survivor while the victim holds a batch', 60_000);
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      await running;
      assert.equal(load.failed, 0);
      await eventually(async () => (await server.store.interactions.lag()).total === 0 && (await pending()) === 0, "the survivor to take the dead exporter's batch over and drain the streams", 60_000);
      const after = await rows.countDistinct();
      assert.deepEqual(
        { rows: after.rows - before.rows, distinct: after.distinct - before.distinct },
        { rows: load.acknowledged, distinct: load.acknowledged },
        'every acknowledged interaction, once',
      );
    } finally {
      for (const e of exporters) e.kill('SIGKILL');
      await redis.quit();
      await server.close();
    }
  });

  it('ClickHouse stopped for 30 s under load: writes go on, events wait in Redis, then all arrive once', async () => {
    const server = await startServer(serverEnv({ EXPORT_BATCH_WAIT: '50ms', EXPORT_RETRY_MAX: '1s' }));
    try {
      const owner = await newUser(server, 'own');
      const video = (await owner.http.createVideo({ title: 'outage' })).id;
      const users = await Promise.all(Array.from({ length: 4 }, () => newUser(server, 'fan')));
      const before = await rows.countDistinct();
      const load = new Load(users);
      await clickhouse.stop();
      const start = Date.now();
      await load.toggle(video, () => Date.now() - start > 30_000);
      assert.equal(load.failed, 0, 'no write was refused: the lag stayed under EXPORT_MAX_LAG');
      assert.ok(load.acknowledged > 0);
      const waiting = await server.store.interactions.lag();
      assert.ok(waiting.total > 0, 'the events wait in Redis');
      assert.ok(server.exporter!.stats.failures > 0, 'the exporter kept trying');
      const metrics = await server.metrics.registry.getSingleMetricAsString('tremolo_export_failures_total');
      assert.match(metrics, /tremolo_export_failures_total\{sink="clickhouse"\} [1-9]/);
      await clickhouse.start();
      await eventually(async () => (await server.store.interactions.lag()).total === 0, 'the lag to recover', 60_000);
      const after = await rows.countDistinct();
      assert.deepEqual({ rows: after.rows - before.rows, distinct: after.distinct - before.distinct }, { rows: load.acknowledged, distinct: load.acknowledged });
    } finally {
      await server.close();
    }
  });
});
