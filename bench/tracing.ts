/**
 * What tracing costs (issue 16), in one run: acknowledged likes/s (as in `likes`: the engine on
 * Redis, group commit) and `GET /v1/feed` req/s (as in `feed`, smaller setup, a server child on
 * the memory store, whose Store calls are spans too) with tracing off, at 1 % and at 100 %
 * sampling, spans exported over OTLP/HTTP to a local sink (a node:http server in this process
 * that reads and drops them). Each like is a root span, as a socket event is, so the actor turn
 * and the Redis script are traced under it when it is sampled.
 *
 * Made to be read on a shared or noisy machine: the three variants are built once and measured
 * in rounds, each round running every variant once in a rotated order (so drift in background
 * load hits each alike), and the figures are medians over rounds; the cost of a variant is also
 * given as the median of its per-round ratio to `off` in the same round.
 *
 * The JSON line: value = median likes/s at 1 %, baseline = median likes/s with tracing off; the
 * 100 % figure is printed on the line before it.
 *
 *   npm run bench -- tracing [--ops 40000] [--window 4000] [--seconds 3] [--runs 5]
 */
import { benchEngine, inWindow } from './helpers/engine.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Engine } from '../src/actors/engine.ts';
import { HttpClient } from '../src/client/http-client.ts';
import { loadConfig } from '../src/config.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { guardStore } from '../src/storage/guard.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { createOtelTracing } from '../src/telemetry/otel.ts';
import { noopTracing, type Tracing } from '../src/telemetry/tracing.ts';
import { dropPrefix, randomPrefix, REDIS_URL } from '../test/helpers/redis.ts';
import { autocannon } from './helpers/autocannon.ts';
import { startTremoloChild } from './helpers/child.ts';
import { fmt } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    ops: { type: 'string', default: '40000' },
    window: { type: 'string', default: '4000' },
    seconds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '5' },
  },
});
const OPS = Number(argv.ops);
const WINDOW = Number(argv.window);
const SECONDS = Number(argv.seconds);
const RUNS = Number(argv.runs);

const VARIANTS = [
  { name: 'off', ratio: undefined },
  { name: '1%', ratio: 0.01 },
  { name: '100%', ratio: 1 },
] as const;
type Variant = (typeof VARIANTS)[number]['name'];

/** Round r runs the variants rotated by r: off/1%/100%, 1%/100%/off, 100%/off/1%, ... */
function rotated<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Per-variant figures of one measure, measured round by round. */
class Rounds {
  readonly #runs = new Map<Variant, number[]>(VARIANTS.map((v) => [v.name, []]));
  add(variant: Variant, value: number): void {
    this.#runs.get(variant)!.push(value);
  }
  runs(variant: Variant): number[] {
    return this.#runs.get(variant)!;
  }
  median(variant: Variant): number {
    return median(this.runs(variant));
  }
  /** Median over rounds of variant / off measured in the same round. */
  pairedRatio(variant: Variant): number {
    const off = this.runs('off');
    return median(this.runs(variant).map((x, i) => x / off[i]!));
  }
}

/** The OTLP/HTTP sink: reads each export and answers 200, counting spans roughly by bytes. */
async function startSink(): Promise<{ url: string; bytes: () => number; close: () => void }> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, bytes: () => bytes, close: () => server.close() };
}

async function likes(sinkUrl: string): Promise<Rounds> {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const prefix = randomPrefix('bench-tracing');
  const admin = new Redis(REDIS_URL);
  const ids = new TsidGenerator({ nodeId: 9 });
  const results = new Rounds();
  const built: { name: string; tracing: Tracing; engine: Engine; store: RedisStore }[] = [];
  try {
    for (const v of VARIANTS) {
      const tracing =
        v.ratio === undefined ? noopTracing : createOtelTracing({ serviceName: 'bench', serviceVersion: '0', defaultRatio: v.ratio, rules: [], exporterUrl: sinkUrl });
      const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS }, timeoutMs: 5000, tracing });
      const engine = benchEngine(guardStore(store, { timeoutMs: 5000 }).store, config, ids, { tracing });
      built.push({ name: v.name, tracing, engine, store });
    }
    const first = built[0]!.engine;
    const owner = await first.createUser({ handle: `tbench${Date.now()}`, passwordHash: 'x' });
    const users = Array.from({ length: 1000 }, () => ids.next());
    const videos: string[] = [];
    for (let v = 0; v < 100; v++) videos.push((await first.createVideo(owner.id, { title: `v${v}` })).id);
    const opFor = ({ tracing, engine }: (typeof built)[number]) => (i: number) => {
      const h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
      const user = users[h % users.length]!;
      const video = videos[(h >>> 10) % videos.length]!;
      const like = ((h >>> 20) & 3) !== 0;
      const call = () => (like ? engine.like(video, user) : engine.unlike(video, user));
      if (!tracing.enabled) return call();
      // a root span per like, as the socket event's would be
      const span = tracing.start('video:like', { kind: 'server', parent: 'root' });
      return tracing.run(span.context, call).finally(() => span.end());
    };
    for (const b of built) await inWindow(OPS, WINDOW, opFor(b)); // warm-up
    for (let r = 0; r < RUNS; r++) {
      // interleaved and rotated, so load from other work on the machine hits every variant alike
      for (const b of rotated(built, r)) results.add(b.name as Variant, await inWindow(OPS, WINDOW, opFor(b)));
    }
  } finally {
    for (const b of built) {
      await b.engine.shutdown(2000);
      await b.tracing.shutdown();
      await b.store.close();
    }
    await dropPrefix(admin, prefix);
    admin.disconnect();
  }
  return results;
}

async function feed(sinkUrl: string): Promise<Rounds> {
  const results = new Rounds();
  const servers: { name: Variant; stop: () => Promise<unknown>; url?: string; token?: string }[] = [];
  try {
    // all three up at once (an idle server costs nothing), measured in rotated rounds
    for (const v of VARIANTS) {
      const env: Record<string, string> = {
        STORAGE: 'memory',
        RATE_IP_PER_MIN: '100000000',
        RATE_USER_PER_MIN: '100000000',
        SIGNUP_RATE_PER_HOUR: '100000',
        PASSWORD_HASH_QUEUE: '10000',
        ...(v.ratio === undefined
          ? { TRACING_ENABLED: 'false' }
          : { TRACING_ENABLED: 'true', TRACE_SAMPLE_RATIO: String(v.ratio), TRACE_SAMPLE_RULES: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: sinkUrl }),
      };
      const child = startTremoloChild(env);
      const server: (typeof servers)[number] = { name: v.name, stop: () => child.stop() };
      servers.push(server);
      const { url } = (await child.ready) as { url: string };
      const reader = new HttpClient(url);
      const session = await reader.register(`reader${process.pid}${v.name.replace('%', 'p')}`, 'correct horse battery');
      for (let a = 0; a < 20; a++) {
        const author = new HttpClient(url);
        const s = await author.register(`author${process.pid}x${a}${v.name.replace('%', 'p')}`, 'correct horse battery');
        await reader.follow(s.user.id);
        for (let k = 0; k < 3; k++) await author.createVideo({ title: `video ${a}/${k}` });
      }
      server.url = url;
      server.token = session.token;
      await autocannon(`${url}/v1/feed`, { connections: 10, seconds: 1, headers: { authorization: `Bearer ${session.token}` } }); // warm-up
    }
    for (let r = 0; r < RUNS; r++) {
      for (const server of rotated(servers, r)) {
        const res = await autocannon(`${server.url}/v1/feed`, { connections: 10, seconds: SECONDS, headers: { authorization: `Bearer ${server.token}` } });
        if (res.non2xx || res.errors) throw new Error(`feed answered ${res.non2xx} non-2xx and ${res.errors} errors`);
        results.add(server.name, res.reqPerSec);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  return results;
}

const sink = await startSink();
try {
  const likeRates = await likes(sink.url);
  const feedRates = await feed(sink.url);
  console.log(
    `likes: ${fmt(OPS)} per run, ${fmt(WINDOW)} in flight; feed: ${SECONDS} s per run, 10 connections; ` +
      `${RUNS} rounds, variants interleaved and rotated; medians; ${fmt(sink.bytes() / 1e6, 1)} MB of OTLP exported`,
  );
  const line = (what: string, r: Rounds, v: Variant) =>
    `  ${what} median ${fmt(r.median(v))}  (runs: ${r.runs(v).map((x) => fmt(x)).join(', ')})` +
    (v === 'off' ? '' : `  ${fmt(100 * r.pairedRatio(v), 1)} % of off, paired by round (cost ${fmt(100 * (1 - r.pairedRatio(v)), 1)} %)`);
  for (const v of VARIANTS) {
    console.log(`tracing ${v.name}:`);
    console.log(line('likes/s', likeRates, v.name));
    console.log(line('feed/s ', feedRates, v.name));
  }
  console.log(
    `targets: 1 % costs <= 5 %: likes ${fmt(100 * (1 - likeRates.pairedRatio('1%')), 1)} %, feed ${fmt(100 * (1 - feedRates.pairedRatio('1%')), 1)} %; ` +
      `100 % costs <= 30 %: likes ${fmt(100 * (1 - likeRates.pairedRatio('100%')), 1)} %, feed ${fmt(100 * (1 - feedRates.pairedRatio('100%')), 1)} %`,
  );
  console.log(`tracing 100%: likes/s ${fmt(likeRates.median('100%'))} vs ${fmt(likeRates.median('off'))} off (ratio ${fmt(likeRates.median('100%') / likeRates.median('off'), 2)})`);
  report('tracing', 'likes/s', likeRates.median('1%'), likeRates.median('off'));
} finally {
  sink.close();
}
