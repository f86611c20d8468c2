/**
 * Likes through the actor system on the Redis driver (issue 3).
 *
 * 1,000 users x 100 videos, a random mix of like/unlike, with WINDOW operations in flight
 * at all times; measures acknowledged likes per second and this process's CPU per 100k
 * likes (plus Redis's own CPU from INFO). The baseline, in the same run against the same
 * Redis: the simple way, one round trip per like (MULTI; SADD or SREM; HINCRBY; EXEC),
 * with the same number in flight.
 *
 * The engine runs in this process exactly as main.ts builds it (group commit per video
 * turn, output gate), once with the circuit breaker around the store (as deployed) and
 * once without, to show what the guard costs.
 *
 *   npm run bench -- likes [--ops 200000] [--window 8000] [--runs 3]
 */
import { benchEngine } from './helpers/engine.ts';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Engine } from '../src/actors/engine.ts';
import { loadConfig } from '../src/config.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { guardStore } from '../src/storage/guard.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { dropPrefix, randomPrefix, REDIS_URL, startRedisPair } from '../test/helpers/redis.ts';
import { cpuSeconds, describe, fmt, summarize } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: { ops: { type: 'string', default: '200000' }, window: { type: 'string', default: '8000' }, runs: { type: 'string', default: '3' } },
});
const OPS = Number(argv.ops);
const WINDOW = Number(argv.window);
const RUNS = Number(argv.runs);
const USERS = 1000;
const VIDEOS = 100;

interface Measured {
  perSec: number;
  /** Node CPU seconds per 100k likes. */
  cpuPer100k: number;
  /** Redis server CPU seconds per 100k likes. */
  redisCpuPer100k: number;
}

/** Drives `op` OPS times with WINDOW calls outstanding. */
async function drive(op: (i: number) => Promise<unknown>, admin: Redis): Promise<Measured> {
  const redisBefore = await redisCpu(admin);
  const cpu = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  let failed = 0;
  await new Promise<void>((resolve) => {
    let done = 0;
    const launch = () => {
      const i = next++;
      op(i).then(
        () => finish(),
        () => {
          failed++;
          finish();
        },
      );
    };
    const finish = () => {
      done++;
      if (next < OPS) launch();
      else if (done === OPS) resolve();
    };
    for (let k = 0; k < Math.min(WINDOW, OPS); k++) launch();
  });
  const secs = (performance.now() - start) / 1000;
  const cpuS = cpuSeconds(cpu);
  const redisS = (await redisCpu(admin)) - redisBefore;
  if (failed) throw new Error(`${failed} of ${OPS} operations failed`);
  return { perSec: OPS / secs, cpuPer100k: (cpuS * 1e5) / OPS, redisCpuPer100k: (redisS * 1e5) / OPS };
}

async function redisCpu(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** Deterministic op mix: (user, video, like?) for op i. */
function opOf(i: number, users: string[], videos: string[]): { user: string; video: string; like: boolean } {
  const h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return { user: users[h % USERS]!, video: videos[(h >>> 10) % VIDEOS]!, like: ((h >>> 20) & 3) !== 0 }; // 3 likes : 1 unlike
}

async function main(): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const prefix = randomPrefix('bench-likes');
  const admin = new Redis(REDIS_URL);
  const redisStore = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS }, timeoutMs: 5000 });
  const ids = new TsidGenerator({ nodeId: 7 });
  try {
    const bare = benchEngine(redisStore, config, ids);
    const guarded = benchEngine(guardStore(redisStore, { timeoutMs: 5000 }).store, config, ids);
    const owner = await bare.createUser({ handle: `bench${Date.now()}`, passwordHash: 'x' });
    const users = Array.from({ length: USERS }, () => ids.next());
    const videos: string[] = [];
    for (let v = 0; v < VIDEOS; v++) videos.push((await bare.createVideo(owner.id, { title: `video ${v}` })).id);

    const viaEngine = (engine: Engine) => (i: number) => {
      const { user, video, like } = opOf(i, users, videos);
      return like ? engine.like(video, user) : engine.unlike(video, user);
    };
    const naiveClient = new Redis(REDIS_URL);
    const naive = (i: number) => {
      const { user, video, like } = opOf(i, users, videos);
      const m = naiveClient.multi();
      if (like) m.sadd(`${prefix}naive:{${video}}:likers`, user);
      else m.srem(`${prefix}naive:{${video}}:likers`, user);
      m.hincrby(`${prefix}naive:{${video}}:counts`, 'likes', like ? 1 : -1);
      return m.exec();
    };

    // warm-up (JIT, script cache, actor activations)
    await drive(viaEngine(bare), admin);
    await drive(naive, admin);

    const engineRuns: Measured[] = [];
    const guardedRuns: Measured[] = [];
    const naiveRuns: Measured[] = [];
    for (let r = 0; r < RUNS; r++) {
      // interleaved, so load from other work on the machine hits all three alike
      engineRuns.push(await drive(viaEngine(bare), admin));
      guardedRuns.push(await drive(viaEngine(guarded), admin));
      naiveRuns.push(await drive(naive, admin));
    }
    naiveClient.disconnect();

    const show = (name: string, runs: Measured[]) => {
      const rate = summarize(runs.map((m) => m.perSec));
      const cpu = summarize(runs.map((m) => m.cpuPer100k), true);
      const rcpu = summarize(runs.map((m) => m.redisCpuPer100k), true);
      console.log(`${name}:`);
      console.log(`  likes/s             ${describe(rate)}`);
      console.log(`  node CPU-s / 100k   ${describe(cpu, 2)}  (${fmt((cpu.best * 1e6) / 1e5, 1)} µs per like)`);
      console.log(`  redis CPU-s / 100k  ${describe(rcpu, 2)}`);
      return rate.best;
    };
    console.log(`${fmt(OPS)} ops per run (3 likes : 1 unlike), ${USERS} users x ${VIDEOS} videos, ${fmt(WINDOW)} in flight, best of ${RUNS}`);
    const value = show('engine (actors, group commit), no breaker', engineRuns);
    show('engine with the circuit breaker (as main.ts deploys it)', guardedRuns);
    const baseline = show('naive: one MULTI/SADD|SREM/HINCRBY/EXEC per like', naiveRuns);
    // the acknowledged-likes figure is the deployed configuration (guarded)
    const deployed = summarize(guardedRuns.map((m) => m.perSec)).best;
    console.log(`ratio (no breaker) ${fmt(value / baseline, 2)}`);
    await replicaWaitCost(config);
    report('likes', 'likes/s', deployed, baseline);
    await bare.shutdown(2000);
    await guarded.shutdown(2000);
  } finally {
    await dropPrefix(admin, prefix);
    await redisStore.close();
    admin.disconnect();
  }
}

/**
 * What REDIS_WAIT_REPLICAS=1 costs: the same engine and op mix on a private master with one
 * replica (started here, so the default Redis is not involved), once with one WAIT per turn
 * and once without. An extra printed figure; the JSON line stays the figure above.
 */
async function replicaWaitCost(config: ReturnType<typeof loadConfig>): Promise<void> {
  const pair = await startRedisPair();
  const admin = new Redis(pair.master.url);
  const rates: Record<string, number> = {};
  try {
    for (const replicas of [0, 1, 0, 1]) {
      const store = await RedisStore.connect({
        url: pair.master.url,
        prefix: randomPrefix('bench-wait'),
        limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS },
        timeoutMs: 5000,
        replicaWait: { replicas, timeoutMs: 1000 },
      });
      const ids = new TsidGenerator({ nodeId: 8 });
      const engine = benchEngine(store, config, ids);
      const owner = await engine.createUser({ handle: `wait${Date.now()}`, passwordHash: 'x' });
      const users = Array.from({ length: USERS }, () => ids.next());
      const videos: string[] = [];
      for (let v = 0; v < VIDEOS; v++) videos.push((await engine.createVideo(owner.id, { title: `video ${v}` })).id);
      const measured = await drive((i) => {
        const { user, video, like } = opOf(i, users, videos);
        return like ? engine.like(video, user) : engine.unlike(video, user);
      }, admin);
      // the second round of each (after the JIT and script cache are warm) is the one kept
      rates[`wait${replicas}`] = measured.perSec;
      await engine.shutdown(2000);
      await store.close();
    }
  } finally {
    admin.disconnect();
    await pair.stop();
  }
  const off = rates.wait0!;
  const on = rates.wait1!;
  console.log(`REDIS_WAIT_REPLICAS cost (private master + 1 replica, engine without breaker, one run each after a warm-up):`);
  console.log(`  likes/s  WAIT 0: ${fmt(off)}   WAIT 1: ${fmt(on)}   ratio ${fmt(on / off, 2)}`);
}

await main();
