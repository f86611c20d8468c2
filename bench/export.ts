/**
 * The behaviour log end to end (issue 17): interactions per second from an acknowledged
 * write to a row in ClickHouse.
 *
 * Ours: views through the Engine on the Redis driver (group commit; each view's event is
 * XADDed to its slot's stream inside the same Lua script), with the exporter running beside
 * it (batches of EXPORT_BATCH_MAX, one JSONEachRow INSERT each, trimmed after the ack). The
 * clock runs from the first write to the moment ClickHouse holds a row for every
 * acknowledged view. Baseline, in the same run against the same servers: the simple design,
 * each acknowledged write followed by its own INSERT of one row (WINDOW in flight).
 *
 * Exits non-zero when a row is missing or doubled (rows and distinct ids are both counted
 * with FINAL, and without FINAL for the raw insert count).
 *
 * Then, for diagnosis (stderr only): the export alone, a backlog of events/4 written with no
 * exporter running, then drained by one exporter with --pipelines batches in flight.
 *
 *   npm run bench -- export [--events 100000] [--baseline-events 2000] [--window 2000] [--videos 100] [--pipelines 2]
 */
import { benchEngine, inWindow } from './helpers/engine.ts';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { systemClock } from '../src/domain/clock.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { ClickHouseSink } from '../src/export/clickhouse-sink.ts';
import { Exporter } from '../src/export/exporter.ts';
import { INTERACTION_SCHEMA_VERSION } from '../src/protocol/interactions.ts';
import { BehaviourLog } from '../src/storage/clickhouse/behaviour-log.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { startClickHouse } from '../test/helpers/clickhouse.ts';
import { connectRedis, dropPrefix, randomPrefix } from '../test/helpers/redis.ts';
import { cpuSeconds } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    'baseline-events': { type: 'string', default: '2000' },
    window: { type: 'string', default: '2000' },
    videos: { type: 'string', default: '100' },
    pipelines: { type: 'string', default: '2' },
  },
});
const EVENTS = Number(argv.events);
const BASELINE_EVENTS = Number(argv['baseline-events']);
const WINDOW = Number(argv.window);
const VIDEOS = Number(argv.videos);
const PIPELINES = Number(argv.pipelines);

async function until(predicate: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<number> {
  const config = loadConfig({ LOG_LEVEL: 'silent', EXPORT_BATCH_MAX: '20000', EXPORT_BATCH_WAIT: '100ms' });
  const clickhouse = await startClickHouse();
  const prefix = randomPrefix('bench-export');
  const redis = await connectRedis();
  const ids = new TsidGenerator({ nodeId: 9 });
  const store = new RedisStore({
    redis,
    prefix,
    limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS, interactions: { max: 10_000_000, hold: true, entryEvents: config.exportEntryEvents } },
    eventIds: ids,
  });
  const ours = await BehaviourLog.open({ url: clickhouse.url, database: 'bench_ours' });
  const naive = await BehaviourLog.open({ url: clickhouse.url, database: 'bench_naive' });
  const engine = benchEngine(store, config, ids);
  const log = { warn: (o: object, m: string) => console.error(m, o), info: () => {} };
  try {
    const owner = await engine.createUser({ handle: `bench${Date.now()}`, passwordHash: 'x' });
    const videos: string[] = [];
    for (let v = 0; v < VIDEOS; v++) videos.push((await engine.createVideo(owner.id, { title: `video ${v}` })).id);
    // every view counts and records an event: a distinct anonymous viewer each
    const view = (i: number) => engine.view(videos[i % VIDEOS]!, { anonymousKey: `b${i}` });

    // ---- ours: writes and the exporter at once; done when ClickHouse holds every row
    const newExporter = (consumer: string) =>
      new Exporter({
        log: store.interactions,
        sinks: [new ClickHouseSink(ours)],
        clock: systemClock,
        consumer,
        claimIdleMs: config.exportClaimIdleMs,
        pipelines: PIPELINES,
        batchMax: config.exportBatchMax,
        batchWaitMs: config.exportBatchWaitMs,
        retryMaxMs: 1000,
        maxLag: 10_000_000,
        logger: log,
      });
    const exporter = newExporter('bench');
    const redisBefore = await redisCpu(redis);
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    exporter.start();
    await inWindow(EVENTS, WINDOW, view);
    const acked = performance.now();
    // the exporter's own count first: polling every stream's lag every 20 ms would be the bench's own load on Redis
    await until(async () => exporter.stats.exported >= EVENTS && (await store.interactions.lag()).total === 0, 'the exporter to drain', 600_000);
    const seconds = (performance.now() - start) / 1000;
    // CPU per view, which load from elsewhere on a shared machine moves less than views per second
    const nodeUs = (cpuSeconds(cpuBefore) * 1e6) / EVENTS;
    const redisUs = (((await redisCpu(redis)) - redisBefore) * 1e6) / EVENTS;
    await exporter.stop();
    const rows = await ours.countDistinct();
    const raw = await ours.countDistinct().then(async () => Number((await rawCount(clickhouse.url, 'bench_ours')) ?? 0));
    console.error(
      `ours: ${EVENTS} views acknowledged in ${((acked - start) / 1000).toFixed(2)} s, all in ClickHouse after ${seconds.toFixed(2)} s; ` +
        `${exporter.stats.batches} batches; rows ${rows.rows}, distinct ${rows.distinct}, inserted ${raw}`,
    );
    console.error(`ours, CPU per view written and exported: this process (engine + exporter) ${nodeUs.toFixed(1)} µs, Redis ${redisUs.toFixed(1)} µs`);

    // ---- the export alone (diagnosis, not the figure): a backlog written first, then drained
    const backlog = Math.max(1, Math.floor(EVENTS / 4));
    await inWindow(backlog, WINDOW, (i) => view(EVENTS + BASELINE_EVENTS + i));
    const drainer = newExporter('bench-drain');
    const drainRedis = await redisCpu(redis);
    const drainCpu = process.cpuUsage();
    const drainStart = performance.now();
    drainer.start();
    await until(async () => drainer.stats.exported >= backlog && (await store.interactions.lag()).total === 0, 'the backlog to drain', 600_000);
    const drainSeconds = (performance.now() - drainStart) / 1000;
    const drainNodeUs = (cpuSeconds(drainCpu) * 1e6) / backlog;
    const drainRedisUs = (((await redisCpu(redis)) - drainRedis) * 1e6) / backlog;
    await drainer.stop();
    console.error(
      `export alone: a backlog of ${backlog} events drained in ${drainSeconds.toFixed(2)} s (${Math.round(backlog / drainSeconds)} events/s, ${drainer.stats.batches} batches, ${PIPELINES} pipelines); ` +
        `CPU per event: this process ${drainNodeUs.toFixed(1)} µs, Redis ${drainRedisUs.toFixed(1)} µs`,
    );
    const all = await ours.countDistinct();

    // ---- baseline: each acknowledged write, then its own INSERT
    const baseStart = performance.now();
    await inWindow(BASELINE_EVENTS, Math.min(WINDOW, 64), async (i) => {
      await view(EVENTS + i);
      await naive.insert([{ v: INTERACTION_SCHEMA_VERSION, id: ids.next(), type: 'view', at: Date.now(), sessionId: `b${i}`, videoId: videos[i % VIDEOS]! }]);
    });
    const baseSeconds = (performance.now() - baseStart) / 1000;
    const naiveRows = await naive.countDistinct();
    console.error(`baseline: ${BASELINE_EVENTS} views, one INSERT each, in ${baseSeconds.toFixed(2)} s; rows ${naiveRows.rows}`);

    const ok = rows.rows === EVENTS && rows.distinct === EVENTS && all.rows === EVENTS + backlog && all.distinct === EVENTS + backlog && naiveRows.distinct === BASELINE_EVENTS;
    report('export', 'events/s into ClickHouse', EVENTS / seconds, BASELINE_EVENTS / baseSeconds);
    if (!ok) console.error(`LOSS OR DOUBLES: expected ${EVENTS} rows, got ${rows.rows} (distinct ${rows.distinct}); with the backlog ${EVENTS + backlog}, got ${all.rows} (distinct ${all.distinct})`);
    return ok ? 0 : 1;
  } finally {
    await engine.shutdown(5000);
    await ours.close();
    await naive.close();
    await dropPrefix(redis, prefix);
    await redis.quit();
    await clickhouse.cleanup();
  }
}

/** Redis's own CPU seconds so far (INFO cpu, user + system). */
async function redisCpu(redis: Awaited<ReturnType<typeof connectRedis>>): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** Rows as inserted (before ReplacingMergeTree collapses duplicates). */
async function rawCount(url: string, database: string): Promise<string | undefined> {
  const res = await fetch(`${url}/?query=${encodeURIComponent(`SELECT count() FROM ${database}.interactions`)}`);
  return (await res.text()).trim();
}

process.exit(await main());
