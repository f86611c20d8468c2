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
 * The ceiling (issue 21), in the same run: the same ops sent straight to Redis as raw
 * EVALSHA calls of the same video-apply script, 500 likes per call, no actor or engine
 * around them (`rawCeiling`). The JSON line's baseline is that ceiling; the naive figure
 * is printed beside it.
 *
 * Bytes per like (issue 21, `bytesPerInteraction`): MEMORY USAGE summed over a video's keys
 * at 1,000 and 100,000 likes, and over a user's keys at 1,000 follows, divided by the count.
 *
 *   npm run bench -- likes [--ops 200000] [--window 8000] [--runs 3] [--memory-likes 1000,100000] [--only memory]
 *
 * `--only memory` measures the bytes alone (no throughput runs, no JSON line).
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { benchEngine, inWindow } from './helpers/engine.ts';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Engine } from '../src/actors/engine.ts';
import { loadConfig } from '../src/config.ts';
import { createMetrics, type Metrics } from '../src/metrics.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { guardStore } from '../src/storage/guard.ts';
import { RedisKeys } from '../src/storage/redis/keys.ts';
import { likerMember } from '../src/storage/redis/likers.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { expandIncludes } from '../src/storage/redis/scripts.ts';
import { COMMENT_TOP_DEFAULTS } from '../src/storage/store.ts';
import { DEFAULT_INTERACTION_LIMITS } from '../src/storage/interactions.ts';
import { INTERACTION_SCHEMA_VERSION } from '../src/protocol/interactions.ts';
import { dropPrefix, randomPrefix, REDIS_URL, startRedisPair } from '../test/helpers/redis.ts';
import { cpuSeconds, describe, fmt, summarize } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    ops: { type: 'string', default: '200000' },
    window: { type: 'string', default: '8000' },
    runs: { type: 'string', default: '3' },
    'memory-likes': { type: 'string', default: '1000,100000' },
    only: { type: 'string' },
  },
});
if (argv.only !== undefined && argv.only !== 'memory') throw new Error(`--only takes 'memory', not ${JSON.stringify(argv.only)}`);
const ONLY_MEMORY = argv.only === 'memory';
const OPS = Number(argv.ops);
const WINDOW = Number(argv.window);
const RUNS = Number(argv.runs);
const MEMORY_LIKES = argv['memory-likes'].split(',').filter(Boolean).map(Number);
const USERS = 1000;
const VIDEOS = 100;

interface Measured {
  perSec: number;
  /** Engine runs: seconds after the last ack until the For You signals queued by then were learned. */
  learnDrainS?: number;
  /** Engine runs: signals the learner shed (FORYOU_LEARN_QUEUE_MAX). */
  shed?: number;
  /** Node CPU seconds per 100k likes. */
  cpuPer100k: number;
  /** Redis server CPU seconds per 100k likes. */
  redisCpuPer100k: number;
}

/** Drives `op` OPS times with WINDOW calls outstanding. */
async function shedCount(metrics: Metrics): Promise<number> {
  return (await metrics.forYouSignalsShed.get()).values[0]?.value ?? 0;
}

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

/** Likes per raw EVALSHA call in the ceiling (issue 21). */
const CEILING_BATCH = 500;

/** video-apply as the driver loads it (includes expanded), and its SHA1. */
function videoApplyScript(): { lua: string; sha: string } {
  const dir = new URL('../src/storage/redis/lua/', import.meta.url);
  const file = 'video-apply-14.lua';
  const lua = expandIncludes(readFileSync(new URL(file, dir), 'utf8'), new URL('includes/', dir), new Set(), file);
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * The raw batched ceiling: the same OPS ops, grouped per video in their order and cut into
 * calls of CEILING_BATCH, each one EVALSHA of video-apply with the same KEYS and ARGV the
 * driver sends (an interaction event id per op), WINDOW / CEILING_BATCH calls in flight. No
 * actor, mailbox, result objects or events: what Redis and one connection do at best.
 */
async function rawCeiling(prefix: string, users: string[], videos: string[], ids: TsidGenerator, admin: Redis): Promise<Measured> {
  // FORYOU_LEARN_QUEUE_MAX from the environment: e.g. 1 sheds nearly all learning, to see the ack path alone
  const config = loadConfig({ LOG_LEVEL: 'silent', FORYOU_LEARN_QUEUE_MAX: process.env.FORYOU_LEARN_QUEUE_MAX });
  const keys = new RedisKeys(prefix);
  const client = new Redis(REDIS_URL);
  try {
    const { lua, sha } = videoApplyScript();
    await client.script('LOAD', lua);
    const keysOf = new Map<string, string[]>();
    for (const v of videos) {
      const ck = keys.comments(v);
      keysOf.set(v, [...keys.videoAll(v), ck.info, ck.threads, ck.likes, ck.top, keys.interactionStream(keys.interactionTag(v)), keys.interactionExtra(keys.interactionTag(v))]);
    }
    const byVideo = new Map<string, number[]>();
    for (let i = 0; i < OPS; i++) {
      const { video } = opOf(i, users, videos);
      let list = byVideo.get(video);
      if (!list) byVideo.set(video, (list = []));
      list.push(i);
    }
    const calls: { video: string; ops: number[] }[] = [];
    for (const [video, list] of byVideo) {
      for (let k = 0; k < list.length; k += CEILING_BATCH) calls.push({ video, ops: list.slice(k, k + CEILING_BATCH) });
    }
    const send = (c: number) => {
      const { video, ops } = calls[c]!;
      const now = Date.now();
      const wire: string[] = [];
      let eventIds = '';
      for (const i of ops) {
        const { user, like } = opOf(i, users, videos);
        wire.push(`["${like ? 'l' : 'u'}","${user}","${likerMember(user)}"]`);
        eventIds += ids.next();
      }
      const args = [
        `[${wire.join(',')}]`,
        now,
        config.viewDedupS * 1000,
        config.eventLogMax,
        randomUUID(),
        COMMENT_TOP_DEFAULTS.commentTopHalfLifeS,
        DEFAULT_INTERACTION_LIMITS.max,
        '0',
        DEFAULT_INTERACTION_LIMITS.entryEvents,
        eventIds,
        video,
        INTERACTION_SCHEMA_VERSION,
      ];
      return client.evalsha(sha, 14, ...keysOf.get(video)!, ...args);
    };
    const redisBefore = await redisCpu(admin);
    const cpu = process.cpuUsage();
    const start = performance.now();
    await inWindow(calls.length, Math.max(1, Math.ceil(WINDOW / CEILING_BATCH)), send);
    const secs = (performance.now() - start) / 1000;
    const cpuS = cpuSeconds(cpu);
    const redisS = (await redisCpu(admin)) - redisBefore;
    return { perSec: OPS / secs, cpuPer100k: (cpuS * 1e5) / OPS, redisCpuPer100k: (redisS * 1e5) / OPS };
  } finally {
    client.disconnect();
  }
}

interface Usage {
  bytes: number;
  keys: number;
  /** Bytes and keys per kind of key: the part after the hash tag, a likers bucket's number as `<n>`. */
  byKind: Map<string, { bytes: number; keys: number }>;
}

/** MEMORY USAGE (exact: SAMPLES 0) summed over every key matching `pattern`. */
async function memoryOf(admin: Redis, pattern: string): Promise<Usage> {
  let cursor = '0';
  const usage: Usage = { bytes: 0, keys: 0, byKind: new Map() };
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const bytes = Number((await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
      const kind = (key.split('}')[1] ?? '').replace(/^:/, '').replace(/:\d+$/, ':<n>') || '(the entity)';
      const k = usage.byKind.get(kind) ?? { bytes: 0, keys: 0 };
      usage.byKind.set(kind, { bytes: k.bytes + bytes, keys: k.keys + 1 });
      usage.bytes += bytes;
      usage.keys++;
    }
  } while (cursor !== '0');
  return usage;
}

/** `likers:<n> 412,345 B in 500 keys (4.1 B/like), meta ...`, biggest first. */
const breakdown = (u: Usage, per: number, unit: string) =>
  [...u.byKind]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(([kind, k]) => `${kind} ${fmt(k.bytes)} B${k.keys > 1 ? ` in ${fmt(k.keys)} keys` : ''} (${fmt(k.bytes / per, 1)} B/${unit})`)
    .join(', ');

/** A glob that matches its text literally (Redis MATCH: `*`, `?`, `[`, `]` and `\\`). */
const literal = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/**
 * Bytes per interaction in Redis (issue 21): a fresh video liked by `count` distinct users
 * (through the driver's applyOps, 500 per call), MEMORY USAGE summed over all its keys
 * (`v:{id}*`; the slot's behaviour stream is not the video's: the exporter trims it) / count;
 * and a user following 1,000 users: the follower's keys, and the followees' `followers` sets.
 */
async function bytesPerInteraction(store: RedisStore, engine: Engine, admin: Redis, prefix: string, counts: number[], ids: TsidGenerator, ownerId: string): Promise<void> {
  const keys = new RedisKeys(prefix);
  console.log('bytes in Redis per interaction (MEMORY USAGE SAMPLES 0, summed over the keys):');
  for (const count of counts) {
    const video = (await engine.createVideo(ownerId, { title: `memory ${count}` })).id;
    const empty = await memoryOf(admin, `${literal(`${prefix}v:{${video}}`)}*`);
    for (let done = 0; done < count; done += CEILING_BATCH) {
      const n = Math.min(CEILING_BATCH, count - done);
      await store.videos.applyOps(video, Array.from({ length: n }, () => ({ type: 'like' as const, userId: ids.next() })), { now: Date.now() });
    }
    const used = await memoryOf(admin, `${literal(`${prefix}v:{${video}}`)}*`);
    let intsets = 0;
    for (const [kind, k] of used.byKind) if (kind === 'likers:<n>') intsets = k.keys;
    let encodings = 0;
    let largest = 0;
    for (let b = 0; b < intsets; b++) {
      const bucket = `${keys.video(video).likers}:${b}`;
      encodings += String(await admin.object('ENCODING', bucket)) === 'intset' ? 1 : 0;
      largest = Math.max(largest, await admin.scard(bucket));
    }
    console.log(`  video with ${fmt(count)} likes: ${fmt(used.bytes)} B in ${used.keys} keys = ${fmt(used.bytes / count, 1)} B/like (the video with no likes ${fmt(empty.bytes)} B)`);
    console.log(`    ${breakdown(used, count, 'like')}; ${encodings} of ${intsets} likers buckets are intsets, the largest holds ${largest}`);
  }
  const follower = (await engine.createUser({ handle: `mem${Date.now()}`, passwordHash: 'x' })).id;
  const targets: string[] = [];
  for (let t = 0; t < 1000; t++) targets.push((await engine.createUser({ handle: `mem${Date.now()}t${t}`, passwordHash: 'x' })).id);
  const before = await memoryOf(admin, `${literal(keys.user(follower))}*`);
  for (let t = 0; t < targets.length; t += 100) await Promise.all(targets.slice(t, t + 100).map((target) => engine.follow(follower, target)));
  const after = await memoryOf(admin, `${literal(keys.user(follower))}*`);
  let followerSets = 0;
  for (const target of targets) followerSets += Number((await admin.call('MEMORY', 'USAGE', keys.followers(target), 'SAMPLES', '0')) ?? 0);
  const encoding = String(await admin.object('ENCODING', keys.following(follower)));
  console.log(
    `  user with 1,000 follows: own keys ${fmt(after.bytes)} B (${fmt((after.bytes - before.bytes) / 1000, 1)} B/follow over the user without follows), ` +
      `followees' followers sets ${fmt(followerSets / 1000, 1)} B/follow; together ${fmt((after.bytes + followerSets) / 1000, 1)} B/follow`,
  );
  console.log(`    own keys: ${breakdown(after, 1000, 'follow')}; following is a ${encoding}`);
}

/**
 * Storage calls per acknowledged like, counted (not timed, so load on the machine does not
 * move it): the store's aggregates wrapped in counters, under the engine as benchEngine builds
 * it, `n` ops of the same mix by users new to the videos, WINDOW in flight. Every call is one Redis round trip
 * (a script, a command, or one pipeline of them: For You learning's batched calls cover a whole
 * flush of signals, learned behind the acks).
 */
async function storeCallsPerLike(store: RedisStore, config: ReturnType<typeof loadConfig>, ids: TsidGenerator, videos: string[], n: number): Promise<void> {
  // users new to these videos, so the ops change state (a repeated like learns nothing)
  const users = Array.from({ length: USERS }, () => ids.next());
  const calls = new Map<string, number>();
  const counted = <T extends object>(name: string, target: T): T =>
    new Proxy(target, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (typeof v !== 'function') return v;
        const key = `${name}.${String(prop)}`;
        return (...args: unknown[]) => {
          calls.set(key, (calls.get(key) ?? 0) + 1);
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  const wrapped = new Proxy(store, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (prop === 'videos' || prop === 'recommendations') return counted(prop, v as object);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  const engine = benchEngine(wrapped, config, ids);
  await inWindow(n, WINDOW, (i) => {
    const { user, video, like } = opOf(i, users, videos);
    return like ? engine.like(video, user) : engine.unlike(video, user);
  });
  // shutdown learns what is still queued, so the count includes every signal's learning
  await engine.shutdown(2000);
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  // the acks wait for the video writes only; For You learning is batched behind them (learner.ts)
  const learning = [...calls].filter(([k]) => k.startsWith('recommendations.')).reduce((a, [, c]) => a + c, 0);
  const detail = [...calls].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k} ${fmt(c / n, 3)}`).join(', ');
  console.log(
    `store calls per like (counted over ${fmt(n)} ops, ${fmt(WINDOW)} in flight): ${fmt(total / n, 3)}: ` +
      `on the ack path ${fmt((total - learning) / n, 3)}, For You learning behind the acks ${fmt(learning / n, 3)} (${detail})`,
  );
}

async function main(): Promise<void> {
  // FORYOU_LEARN_QUEUE_MAX from the environment: e.g. 1 sheds nearly all learning, to see the ack path alone
  const config = loadConfig({ LOG_LEVEL: 'silent', FORYOU_LEARN_QUEUE_MAX: process.env.FORYOU_LEARN_QUEUE_MAX });
  const prefix = randomPrefix('bench-likes');
  const admin = new Redis(REDIS_URL);
  const redisStore = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS }, timeoutMs: 5000 });
  const ids = new TsidGenerator({ nodeId: 7 });
  try {
    // each engine has its own registry, to count the signals its learner shed
    const bareMetrics = createMetrics({ defaultMetrics: false });
    const guardedMetrics = createMetrics({ defaultMetrics: false });
    const bare = benchEngine(redisStore, config, ids, { metrics: bareMetrics });
    const guarded = benchEngine(guardStore(redisStore, { timeoutMs: 5000 }).store, config, ids, { metrics: guardedMetrics });
    const owner = await bare.createUser({ handle: `bench${Date.now()}`, passwordHash: 'x' });
    if (ONLY_MEMORY) {
      await bytesPerInteraction(redisStore, bare, admin, prefix, MEMORY_LIKES, ids, owner.id);
      await bare.shutdown(2000);
      await guarded.shutdown(2000);
      return;
    }
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
    /**
     * An engine run: acks are what is measured; For You learning runs behind them (learner.ts),
     * so it is drained after the last ack, timed on its own, before the next measurement starts
     * (its Redis and CPU work would otherwise land on whichever run comes next).
     */
    const driveEngine = async (engine: Engine, metrics: Metrics): Promise<Measured> => {
      const shedBefore = await shedCount(metrics);
      const measured = await drive(viaEngine(engine), admin);
      const start = performance.now();
      await engine.recommendations.drain();
      return { ...measured, learnDrainS: (performance.now() - start) / 1000, shed: (await shedCount(metrics)) - shedBefore };
    };
    await driveEngine(bare, bareMetrics);
    await drive(naive, admin);

    const engineRuns: Measured[] = [];
    const guardedRuns: Measured[] = [];
    const naiveRuns: Measured[] = [];
    const ceilingRuns: Measured[] = [];
    await rawCeiling(prefix, users, videos, ids, admin); // warm-up
    for (let r = 0; r < RUNS; r++) {
      // interleaved, so load from other work on the machine hits all three alike
      engineRuns.push(await driveEngine(bare, bareMetrics));
      guardedRuns.push(await driveEngine(guarded, guardedMetrics));
      naiveRuns.push(await drive(naive, admin));
      ceilingRuns.push(await rawCeiling(prefix, users, videos, ids, admin));
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
      if (runs[0]?.learnDrainS !== undefined) {
        const drains = runs.map((m) => `${fmt(m.learnDrainS!, 2)} s`).join(', ');
        const shed = runs.map((m) => fmt(m.shed ?? 0)).join(', ');
        console.log(`  For You learning, behind the acks: drained ${drains} after the last ack; signals shed ${shed}`);
      }
      return rate.best;
    };
    console.log(`${fmt(OPS)} ops per run (3 likes : 1 unlike), ${USERS} users x ${VIDEOS} videos, ${fmt(WINDOW)} in flight, best of ${RUNS}`);
    const value = show('engine (actors, group commit), no breaker', engineRuns);
    show('engine with the circuit breaker (as main.ts deploys it)', guardedRuns);
    const naiveBest = show('naive: one MULTI/SADD|SREM/HINCRBY/EXEC per like', naiveRuns);
    const ceiling = show(`ceiling: raw EVALSHA video-apply, ${CEILING_BATCH} likes per call, no engine`, ceilingRuns);
    // the acknowledged-likes figure is the deployed configuration (guarded)
    const deployed = summarize(guardedRuns.map((m) => m.perSec)).best;
    console.log(`ratio to the ceiling: ${fmt(deployed / ceiling, 2)} (no breaker ${fmt(value / ceiling, 2)}); to naive: ${fmt(deployed / naiveBest, 2)}`);
    await storeCallsPerLike(redisStore, config, ids, videos, Math.min(OPS, 20_000));
    await bytesPerInteraction(redisStore, bare, admin, prefix, MEMORY_LIKES, ids, owner.id);
    await replicaWaitCost(config);
    report('likes', 'likes/s (baseline: raw batched EVALSHA ceiling)', deployed, ceiling);
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
