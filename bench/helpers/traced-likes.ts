/**
 * Child process for `bench/tracing.ts`: the engine on Redis (with the breaker, as in `likes`)
 * with tracing off (BENCH_TRACE_RATIO unset) or at BENCH_TRACE_RATIO, spans exported to
 * BENCH_OTLP_URL. One process per variant, so tracing off never shares its heap, its compiled
 * code or its inline caches with the SDK and a traced engine.
 * Answers `likes { seconds, window }` with the likes acknowledged, the seconds they took,
 * likes per second, and this process's CPU time (user + system) per like in microseconds, their
 * learning included, which other work on a shared machine moves less;
 * `ratio { ratio }` changes the sampling ratio of a traced process (bench/tracing-ratio.ts);
 * `flushTraces` exports the spans still queued.
 */
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { guardStore } from '../../src/storage/guard.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import { noopTracing } from '../../src/telemetry/tracing.ts';
import { dropPrefix, randomPrefix, REDIS_URL } from '../../test/helpers/redis.ts';
import { serveParent } from './child.ts';
import { benchEngine, forSeconds } from './engine.ts';

const ratio = process.env.BENCH_TRACE_RATIO ? Number(process.env.BENCH_TRACE_RATIO) : undefined;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const prefix = randomPrefix('bench-tracing');
const ids = new TsidGenerator({ nodeId: 9 });
// the tracer reads `defaultRatio` from these options at each root it samples, so the `ratio`
// command below changes it in place (bench/tracing-ratio.ts checks that it took: spans exported)
const sampling = { serviceName: 'bench', serviceVersion: '0', defaultRatio: ratio ?? 0, rules: [], exporterUrl: process.env.BENCH_OTLP_URL ?? '', env: {} };
const tracing = ratio === undefined ? noopTracing : createOtelTracing(sampling);
const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS }, timeoutMs: 5000, tracing });
const engine = benchEngine(guardStore(store, { timeoutMs: 5000 }).store, config, ids, { tracing });

const owner = await engine.createUser({ handle: `tbench${process.pid}`, passwordHash: 'x' });
const users = Array.from({ length: 1000 }, () => ids.next());
const videos: string[] = [];
for (let v = 0; v < 100; v++) videos.push((await engine.createVideo(owner.id, { title: `v${v}` })).id);

const op = async (i: number) => {
  const h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const user = users[h % users.length]!;
  const video = videos[(h >>> 10) % videos.length]!;
  const like = ((h >>> 20) & 3) !== 0;
  const call = () => (like ? engine.like(video, user) : engine.unlike(video, user));
  // a root span per like, as the socket event's would be, in the same async frame in every
  // variant (as transport/live/dispatch.ts has with tracing off too): only tracing differs
  const span = tracing.enabled ? tracing.start('video:like', { kind: 'server', parent: 'root' }) : undefined;
  try {
    return await (span ? tracing.run(span.context, call) : call());
  } finally {
    span?.end();
  }
};

serveParent({
  // `{ seconds, window }`: as many likes as `seconds` takes
  likes: async (args) => {
    const cpu = process.cpuUsage();
    const done = await forSeconds(Number(args.seconds), Number(args.window), op);
    // the For You signals these likes queued (learned behind the acks, learner.ts) are learned
    // before the run ends: their CPU and Redis calls are this run's, and do not spill into the
    // next slice, another variant's (tracing off, whose span flush yields nothing, left the most)
    await engine.recommendations.drain();
    const used = process.cpuUsage(cpu);
    return { ...done, perSec: done.ops / done.seconds, cpuUsPerOp: (used.user + used.system) / done.ops };
  },
  // `{ ratio }`: samples roots at this ratio from now on (a traced process only)
  ratio: (args) => {
    if (!tracing.enabled) throw new Error('tracing is off in this process');
    sampling.defaultRatio = Number(args.ratio);
    return {};
  },
  // the spans still queued for export, sent now (the bench counts their cost in the slice that made them)
  flushTraces: async () => {
    await tracing.flush();
    return {};
  },
  close: async () => {
    await engine.shutdown(2000);
    await tracing.shutdown();
    await store.close();
    const admin = new Redis(REDIS_URL);
    await dropPrefix(admin, prefix);
    admin.disconnect();
    return {};
  },
});
process.send?.({ ready: true });
