/**
 * The For You feed against the hot feed and random order (issue 23), on a simulated population.
 *
 *   npm run bench -- foryou [--users 600] [--videos 20000] [--tags 50] [--pages 20] [--limit 10]
 *                           [--seed 7] [--redis-users 150] [--redis-pages 5] [--no-redis] [--svg docs/foryou-learning-curve.svg]
 *                           [--latency-pages 2000] [--latency-warmup 300] [--latency-runs 3]
 *
 * A seeded world: `videos` videos by `videos / 40` authors, each video with one to three tags out
 * of `tags` (popularity Zipf-like; an author mostly posts in a home tag) and a hidden quality; each
 * user has two to four hidden favourite tags. Users are dealt round-robin to three arms: For You,
 * hot, random order. In each round every user reads its next page (`limit` videos) through the
 * Engine's public API (the same calls the REST routes make) and, for every video on it, views it,
 * watches a fraction drawn from its tastes and the video's quality, likes it with a probability
 * from the same, and sends `finish` (>= 90 % watched) or `skip` (< 20 %) through
 * `engine.recordSignal` (the watch-event entry point). All arms' likes feed the hot ranking, which
 * is flushed after each round, so the hot feed moves as it would. The clock is a ManualClock that
 * steps one minute per round, so the run is deterministic for a seed.
 *
 * Reported: like rate and mean watch fraction per arm over all pages and per page index (the
 * learning curve), and page latency p50/p99 of For You and hot on the memory store (the full
 * population) and on Redis (a shorter run on the same catalogue: `redis-users` users,
 * `redis-pages` pages). The JSON line: value = For You like rate, baseline = hot like rate.
 *
 * Latency is measured apart from the learning run, in steady state: the learning run steps the
 * clock a minute per round, past the read cache's TTL, so every round starts cold and its page
 * times say more about that than about a serving process. The latency phase continues the For
 * You and hot users' sessions after the learning run, the clock moving `LATENCY_STEP_MS` per page
 * (traffic as a busy process sees it: the cache expires and refills as it goes), with the
 * reactions between pages as before (not timed): `latency-warmup` pages untimed (JIT, caches),
 * then `latency-runs` runs of `latency-pages` timed pages each. Reported per run: p50/p90/p99/max
 * wall and CPU; the figure is the median run's p99 (a run that other work on the box disturbed
 * shows up as spread, not as the figure).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Engine } from '../src/actors/engine.ts';
import { FanoutSink } from '../src/actors/events.ts';
import { loadConfig } from '../src/config.ts';
import { ManualClock } from '../src/domain/clock.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { seededRandom } from '../src/domain/ranking.ts';
import { engineLimits } from '../src/main.ts';
import { LocalInvalidationBus } from '../src/storage/cache/invalidation.ts';
import { MemoryStore } from '../src/storage/memory/memory-store.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import type { Store } from '../src/storage/store.ts';
import { dropPrefix, randomPrefix, REDIS_URL } from '../test/helpers/redis.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    users: { type: 'string', default: '600' },
    videos: { type: 'string', default: '20000' },
    tags: { type: 'string', default: '50' },
    pages: { type: 'string', default: '20' },
    limit: { type: 'string', default: '10' },
    seed: { type: 'string', default: '7' },
    'redis-users': { type: 'string', default: '150' },
    'redis-pages': { type: 'string', default: '5' },
    'no-redis': { type: 'boolean', default: false },
    'latency-pages': { type: 'string', default: '2000' },
    'latency-warmup': { type: 'string', default: '300' },
    'latency-runs': { type: 'string', default: '3' },
    svg: { type: 'string' },
  },
});
const USERS = Number(argv.users);
const VIDEOS = Number(argv.videos);
const TAGS = Number(argv.tags);
const PAGES = Number(argv.pages);
const LIMIT = Number(argv.limit);
const SEED = Number(argv.seed);
const AUTHORS = Math.max(10, Math.round(VIDEOS / 40));
const ARMS = ['foryou', 'hot', 'random'] as const;
const LATENCY_PAGES = Number(argv['latency-pages']);
const LATENCY_WARMUP = Number(argv['latency-warmup']);
const LATENCY_RUNS = Number(argv['latency-runs']);
/** Clock step per page call in the latency phase: 20 pages per second of one process. */
const LATENCY_STEP_MS = 50;
type Arm = (typeof ARMS)[number];

// ------------------------------------------------------------ the hidden world

interface World {
  tagNames: string[];
  /** Per video (by index): tags (indexes), author (index), quality 0..1. */
  videoTags: number[][];
  videoAuthor: number[];
  quality: number[];
  /** Per user: favourite tags. */
  likesTags: Set<number>[];
}

function makeWorld(): World {
  const rnd = seededRandom(SEED);
  // Zipf-like tag popularity: tag k drawn with weight 1 / (k + 2)
  const weights = Array.from({ length: TAGS }, (_, k) => 1 / (k + 2));
  const total = weights.reduce((a, b) => a + b, 0);
  const drawTag = () => {
    let x = rnd() * total;
    for (let k = 0; k < TAGS; k++) if ((x -= weights[k]!) <= 0) return k;
    return TAGS - 1;
  };
  const home = Array.from({ length: AUTHORS }, drawTag);
  const videoTags: number[][] = [];
  const videoAuthor: number[] = [];
  const quality: number[] = [];
  for (let i = 0; i < VIDEOS; i++) {
    const a = Math.floor(rnd() * AUTHORS);
    const tags = new Set([rnd() < 0.8 ? home[a]! : drawTag()]);
    const extra = Math.floor(rnd() * 3);
    for (let e = 0; e < extra; e++) tags.add(drawTag());
    videoTags.push([...tags]);
    videoAuthor.push(a);
    quality.push(Math.pow(rnd(), 0.7)); // more good videos than bad
  }
  const likesTags = Array.from({ length: USERS }, () => {
    const n = 2 + Math.floor(rnd() * 3);
    const s = new Set<number>();
    while (s.size < n) s.add(drawTag());
    return s;
  });
  return { tagNames: Array.from({ length: TAGS }, (_, k) => `topic${k}`), videoTags, videoAuthor, quality, likesTags };
}

/** What user u does with video i: the fraction watched and whether it likes it. */
function react(world: World, u: number, i: number, rnd: () => number): { fraction: number; like: boolean } {
  const match = world.videoTags[i]!.some((t) => world.likesTags[u]!.has(t));
  const q = world.quality[i]!;
  const fraction = Math.min(1, match ? 0.35 + 0.65 * q * (0.6 + 0.6 * rnd()) : 0.05 + 0.35 * q * rnd());
  const like = rnd() < (match ? 0.05 + 0.45 * q : 0.02 * q);
  return { fraction, like };
}

// ------------------------------------------------------------ the system

interface Built {
  engine: Engine;
  clock: ManualClock;
  users: string[];
  /** Video id -> index in the world, and back. */
  indexOf: Map<string, number>;
  videoIds: string[];
}

async function build(store: Store, world: World, userCount: number): Promise<Built> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', CACHE_MAX_ENTRIES: String(Math.max(50_000, VIDEOS * 2)), ACTOR_MAX_ACTIVE: '50000', FANOUT_QUEUE_MAX: String(VIDEOS * 2) });
  const start = Date.parse('2026-11-26T00:00:00Z');
  const clock = new ManualClock(start);
  const engine = new Engine({
    store,
    sink: new FanoutSink(),
    clock,
    ids: new TsidGenerator({ nodeId: 3, clock }),
    invalidation: new LocalInvalidationBus(),
    onError: (err, context) => console.error(context, err),
    limits: engineLimits(config),
  });
  const authors: string[] = [];
  for (let a = 0; a < AUTHORS; a++) authors.push((await engine.createUser({ handle: `author${a}`, passwordHash: 'x' })).id);
  const users: string[] = [];
  for (let u = 0; u < userCount; u++) users.push((await engine.createUser({ handle: `viewer${u}`, passwordHash: 'x' })).id);
  // videos over the last three days, oldest first
  const span = 3 * 24 * 3600_000;
  const videoIds: string[] = [];
  const indexOf = new Map<string, number>();
  await inParallel(VIDEOS, 16, async (i) => {
    const v = await engine.createVideo(authors[world.videoAuthor[i]!]!, { title: `video ${i}` });
    await engine.setTagging(v.id, { tags: world.videoTags[i]!.map((t) => world.tagNames[t]!) });
    videoIds[i] = v.id;
    indexOf.set(v.id, i);
  }, (i) => clock.set(start + Math.floor((i * span) / VIDEOS)));
  clock.set(start + span);
  await engine.feed.idle();
  await engine.flushHotScores();
  return { engine, clock, users, indexOf, videoIds };
}

/** Runs fn(i) for i < n, `width` at a time; `before(i)` runs synchronously just before each. */
async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>, before: (i: number) => void = () => {}): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        before(i);
        await fn(i);
      }
    }),
  );
}

interface ArmStats {
  likes: number[];
  watched: number[];
  items: number[];
  latencyMs: number[];
  /** CPU time of this process per page call (user + system): what a loaded machine inflates least. */
  cpuMs: number[];
}

const newStats = (): ArmStats => ({ likes: new Array(PAGES).fill(0), watched: new Array(PAGES).fill(0), items: new Array(PAGES).fill(0), latencyMs: [], cpuMs: [] });

/** Per-user reading state: cursors and (random arm) the order drawn for it. */
interface Sessions {
  cursors: Map<number, string | undefined>;
  orders: Map<number, number[]>;
}

/** User u reads its next page of its arm; resolves with the ids served. */
async function readPage(b: Built, s: Sessions, arm: Arm, u: number, p: number, pages: number): Promise<string[]> {
  const userId = b.users[u]!;
  const cursor = s.cursors.get(u);
  if (arm === 'foryou') {
    const page = await b.engine.forYouFeed({ userId }, { limit: LIMIT, ...(cursor ? { cursor } : {}) });
    s.cursors.set(u, page.nextCursor);
    return page.items.map((v) => v.id);
  }
  if (arm === 'hot') {
    const page = await b.engine.hotFeed({ limit: LIMIT, ...(cursor ? { cursor } : {}) }, userId);
    s.cursors.set(u, page.nextCursor);
    return page.items.map((v) => v.id);
  }
  let order = s.orders.get(u);
  if (!order) {
    const r = seededRandom(SEED * 7919 + u);
    order = Array.from({ length: pages * LIMIT }, () => Math.floor(r() * b.videoIds.length));
    s.orders.set(u, order);
  }
  return order.slice(p * LIMIT, (p + 1) * LIMIT).map((i) => b.videoIds[i]!);
}

/** What user u does with what it was served (views, likes, finish and skip signals). */
async function reactTo(b: Built, world: World, u: number, ids: string[], rnd: () => number): Promise<{ likes: number; watched: number }> {
  const userId = b.users[u]!;
  let likes = 0;
  let watched = 0;
  for (const id of ids) {
    const i = b.indexOf.get(id)!;
    const { fraction, like } = react(world, u, i, rnd);
    await b.engine.view(id, { userId });
    if (like) await b.engine.like(id, userId);
    if (fraction >= 0.9) await b.engine.recordSignal({ userId }, id, 'finish');
    else if (fraction < 0.2) await b.engine.recordSignal({ userId }, id, 'skip');
    likes += like ? 1 : 0;
    watched += fraction;
  }
  return { likes, watched };
}

/** The population scrolls: `pages` rounds, every user one page per round. */
async function simulate(b: Built, world: World, arms: readonly Arm[], pages: number): Promise<{ stats: Record<Arm, ArmStats>; sessions: Sessions }> {
  const stats = { foryou: newStats(), hot: newStats(), random: newStats() };
  const sessions: Sessions = { cursors: new Map(), orders: new Map() };
  const rnd = seededRandom(SEED * 31 + 1);
  for (let p = 0; p < pages; p++) {
    for (let u = 0; u < b.users.length; u++) {
      const arm = arms[u % arms.length]!;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const ids = await readPage(b, sessions, arm, u, p, pages);
      stats[arm].latencyMs.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      stats[arm].cpuMs.push((c.user + c.system) / 1000);
      const r = await reactTo(b, world, u, ids, rnd);
      stats[arm].likes[p]! += r.likes;
      stats[arm].watched[p]! += r.watched;
      stats[arm].items[p]! += ids.length;
    }
    b.clock.advance(60_000);
    await b.engine.flushHotScores();
    process.stderr.write(`  round ${p + 1}/${pages}\r`);
  }
  process.stderr.write('\n');
  return { stats, sessions };
}

interface LatencyRun {
  wall: number[];
  cpu: number[];
}

/**
 * Steady-state page latency of `arm` (see the header): the arm's users go on reading where the
 * learning run left them, one page each in turn, the clock stepping LATENCY_STEP_MS per page and
 * hot scores flushed every second of it, as the running server does.
 */
async function latency(b: Built, world: World, sessions: Sessions, arms: readonly Arm[], arm: Arm, startPage: number): Promise<LatencyRun[]> {
  const users = b.users.map((_, u) => u).filter((u) => arms[u % arms.length] === arm);
  const rnd = seededRandom(SEED * 131 + 7);
  const flushEvery = Math.max(1, Math.round(1000 / LATENCY_STEP_MS));
  let call = 0;
  const one = async (timed: LatencyRun | undefined): Promise<void> => {
    const u = users[call % users.length]!;
    const p = startPage + Math.floor(call / users.length);
    call++;
    b.clock.advance(LATENCY_STEP_MS);
    if (call % flushEvery === 0) await b.engine.flushHotScores();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const ids = await readPage(b, sessions, arm, u, p, Number.MAX_SAFE_INTEGER);
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    timed?.wall.push(wall);
    timed?.cpu.push((c.user + c.system) / 1000);
    await reactTo(b, world, u, ids, rnd);
  };
  // each run starts from a collected heap (bench/run.ts passes --expose-gc), so garbage the
  // learning run or an earlier run left is not charged to this one's tail
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  collect();
  for (let i = 0; i < LATENCY_WARMUP; i++) await one(undefined);
  const runs: LatencyRun[] = [];
  for (let r = 0; r < LATENCY_RUNS; r++) {
    collect();
    const run: LatencyRun = { wall: [], cpu: [] };
    for (let i = 0; i < LATENCY_PAGES; i++) await one(run);
    runs.push(run);
  }
  return runs;
}

/** One line per run and the median run's p99 (wall), which is the figure. */
function describeLatency(label: string, runs: LatencyRun[]): number {
  const p99s: number[] = [];
  for (const [i, run] of runs.entries()) {
    const p99 = pct(run.wall, 0.99);
    p99s.push(p99);
    console.log(
      `${label} run ${i + 1}: ${run.wall.length} pages; wall p50 ${ms(pct(run.wall, 0.5))}, p90 ${ms(pct(run.wall, 0.9))}, p99 ${ms(p99)}, max ${ms(Math.max(...run.wall))}; ` +
        `CPU p50 ${ms(pct(run.cpu, 0.5))}, p99 ${ms(pct(run.cpu, 0.99))}`,
    );
  }
  const median = [...p99s].sort((a, b) => a - b)[Math.floor(p99s.length / 2)]!;
  console.log(`${label} page p99 (median of ${runs.length} runs): ${ms(median)} wall`);
  return median;
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
const rate = (s: ArmStats) => sum(s.likes) / Math.max(1, sum(s.items));
const watch = (s: ArmStats) => sum(s.watched) / Math.max(1, sum(s.items));
function pct(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}
const ms = (n: number) => `${n.toFixed(2)} ms`;

function learningCurveSvg(stats: Record<Arm, ArmStats>): string {
  const W = 640;
  const H = 320;
  const pad = { l: 50, r: 110, t: 20, b: 40 };
  const series = ARMS.map((arm) => ({ arm, values: stats[arm].likes.map((l, p) => l / Math.max(1, stats[arm].items[p]!)) }));
  const max = Math.max(0.01, ...series.flatMap((s) => s.values)) * 1.1;
  const x = (p: number) => pad.l + (p * (W - pad.l - pad.r)) / Math.max(1, PAGES - 1);
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const colors: Record<Arm, string> = { foryou: '#d6336c', hot: '#1c7ed6', random: '#868e96' };
  const label: Record<Arm, string> = { foryou: 'For You', hot: 'hot feed', random: 'random order' };
  const lines = series.map(
    (s) =>
      `<polyline fill="none" stroke="${colors[s.arm]}" stroke-width="2" points="${s.values.map((v, p) => `${x(p).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>` +
      `<text x="${W - pad.r + 8}" y="${y(s.values.at(-1)!).toFixed(1)}" fill="${colors[s.arm]}" font-size="12" dominant-baseline="middle">${label[s.arm]}</text>`,
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = max * f;
    return `<text x="${pad.l - 6}" y="${y(v).toFixed(1)}" font-size="11" text-anchor="end" dominant-baseline="middle">${(v * 100).toFixed(0)}%</text><line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`;
  });
  const xt = Array.from({ length: PAGES }, (_, p) => p)
    .filter((p) => p % 5 === 0 || p === PAGES - 1)
    .map((p) => `<text x="${x(p).toFixed(1)}" y="${H - pad.b + 16}" font-size="11" text-anchor="middle">${p + 1}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${ticks.join('\n')}
${xt.join('\n')}
<text x="${(pad.l + W - pad.r) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">page (${LIMIT} videos each)</text>
<text x="14" y="${H / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">like rate</text>
${lines.join('\n')}
</svg>
`;
}

async function main(): Promise<void> {
  const world = makeWorld();
  const limits = { eventLogMax: 100, viewDedupS: 60 };

  console.log(`world: ${USERS} users (${Math.ceil(USERS / 3)} per arm), ${VIDEOS} videos, ${AUTHORS} authors, ${TAGS} tags, ${PAGES} pages of ${LIMIT}, seed ${SEED}`);
  let t = performance.now();
  const mem = await build(new MemoryStore(limits), world, USERS);
  console.log(`memory: catalogue built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  const { stats, sessions } = await simulate(mem, world, ARMS, PAGES);
  console.log(`memory: ${USERS * PAGES} pages simulated in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  console.log('\narm          like rate   mean watch fraction   page p50    page p99    page CPU p50 / p99 (learning run: every round starts cold)');
  for (const arm of ARMS) {
    const s = stats[arm];
    const lat = arm === 'random' ? '-' : `${ms(pct(s.latencyMs, 0.5))}  ${ms(pct(s.latencyMs, 0.99))}  ${ms(pct(s.cpuMs, 0.5))} / ${ms(pct(s.cpuMs, 0.99))}`;
    console.log(`${arm.padEnd(12)} ${(rate(s) * 100).toFixed(2).padStart(7)} %   ${watch(s).toFixed(3).padStart(10)}            ${lat}`);
  }
  console.log('\nlike rate by page (the learning curve):');
  console.log(`page  ${ARMS.map((a) => a.padStart(8)).join('')}`);
  for (let p = 0; p < PAGES; p++) {
    console.log(`${String(p + 1).padStart(4)}  ${ARMS.map((a) => `${((stats[a].likes[p]! / Math.max(1, stats[a].items[p]!)) * 100).toFixed(1)}%`.padStart(8)).join('')}`);
  }
  if (argv.svg) {
    writeFileSync(argv.svg, learningCurveSvg(stats));
    console.log(`learning curve written to ${argv.svg}`);
  }

  console.log(`\nsteady-state page latency on memory (${LATENCY_WARMUP} pages of warm-up, ${LATENCY_RUNS} runs of ${LATENCY_PAGES} pages; clock step ${LATENCY_STEP_MS} ms per page):`);
  const forYouP99 = describeLatency('memory foryou', await latency(mem, world, sessions, ARMS, 'foryou', PAGES));
  const hotP99 = describeLatency('memory hot   ', await latency(mem, world, sessions, ARMS, 'hot', PAGES));

  if (!argv['no-redis']) {
    const redisUsers = Number(argv['redis-users']);
    const redisPages = Math.min(PAGES, Number(argv['redis-pages']));
    const prefix = randomPrefix('bench-foryou');
    const admin = new Redis(REDIS_URL);
    const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits, timeoutMs: 5000 });
    try {
      t = performance.now();
      const red = await build(store, world, redisUsers);
      console.log(`\nredis: catalogue built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const { stats: rs } = await simulate(red, world, ['foryou', 'hot'], redisPages);
      for (const arm of ['foryou', 'hot'] as const) {
        console.log(
          `redis ${arm.padEnd(7)} page p50 ${ms(pct(rs[arm].latencyMs, 0.5))}, p99 ${ms(pct(rs[arm].latencyMs, 0.99))}; CPU p50 ${ms(pct(rs[arm].cpuMs, 0.5))}, p99 ${ms(pct(rs[arm].cpuMs, 0.99))} (${rs[arm].latencyMs.length} pages)`,
        );
      }
    } finally {
      await store.close();
      await dropPrefix(admin, prefix);
      await admin.quit();
    }
  }

  console.log(
    `\nFor You like rate ${(rate(stats.foryou) * 100).toFixed(2)} % vs hot ${(rate(stats.hot) * 100).toFixed(2)} % vs random ${(rate(stats.random) * 100).toFixed(2)} %; ` +
      `memory page p99 (steady state, wall) For You ${ms(forYouP99)} (target <= 20 ms: ${forYouP99 <= 20 ? 'met' : 'NOT met on this run'}), hot ${ms(hotP99)}`,
  );
  report('foryou', 'like rate (likes per video served, first pages)', rate(stats.foryou), rate(stats.hot));
}

await main();
process.exit(0);
