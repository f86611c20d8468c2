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
 * 100 % figure is printed on the line before it. Each variant runs in its own process (likes:
 * helpers/traced-likes.ts; feed: a server child), so tracing off never shares a process with
 * the AsyncLocalStorage a traced variant turns on.
 *
 *   npm run bench -- tracing [--ops 40000] [--window 4000] [--seconds 3] [--runs 5]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { HttpClient } from '../src/client/http-client.ts';
import { autocannon } from './helpers/autocannon.ts';
import { startChild, startTremoloChild } from './helpers/child.ts';
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

async function likes(sinkUrl: string): Promise<{ rates: Rounds; perCpu: Rounds }> {
  const results = new Rounds();
  const perCpu = new Rounds();
  // one process per variant (see helpers/traced-likes.ts), each with its own Redis prefix
  const children = VARIANTS.map((v) => ({
    name: v.name,
    child: startChild(new URL('./helpers/traced-likes.ts', import.meta.url), {
      BENCH_OTLP_URL: sinkUrl,
      ...(v.ratio === undefined ? {} : { BENCH_TRACE_RATIO: String(v.ratio) }),
    }),
  }));
  try {
    await Promise.all(children.map((c) => c.child.ready));
    for (const c of children) await c.child.call('likes', { ops: OPS, window: WINDOW }); // warm-up
    for (let r = 0; r < RUNS; r++) {
      // interleaved and rotated, so load from other work on the machine hits every variant alike
      for (const c of rotated(children, r)) {
        const run = await c.child.call<{ perSec: number; perCpuSec: number }>('likes', { ops: OPS, window: WINDOW });
        results.add(c.name, run.perSec);
        perCpu.add(c.name, run.perCpuSec);
      }
    }
  } finally {
    await Promise.all(children.map((c) => c.child.call('close').catch(() => {})));
    await Promise.all(children.map((c) => c.child.stop()));
  }
  return { rates: results, perCpu };
}

async function feed(sinkUrl: string): Promise<Rounds> {
  const results = new Rounds();
  const servers: { name: Variant; stop: () => Promise<unknown>; call: (cmd: string) => Promise<unknown>; url?: string; token?: string }[] = [];
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
      const server: (typeof servers)[number] = { name: v.name, stop: () => child.stop(), call: (cmd) => child.call(cmd) };
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
        // the servers stay up side by side: a variant's export backlog (at 100 %, seconds of it)
        // is sent now, not while the next variant is measured
        await server.call('flushTraces');
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  return results;
}

const sink = await startSink();
try {
  const { rates: likeRates, perCpu: likesPerCpu } = await likes(sink.url);
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
  // on a loaded machine the rates above move with other work; CPU time per like much less
  console.log(
    `likes per CPU-second of the engine process (diagnostic): ` +
      VARIANTS.map((v) => `${v.name} ${fmt(likesPerCpu.median(v.name))}` + (v.name === 'off' ? '' : ` (cost ${fmt(100 * (1 - likesPerCpu.pairedRatio(v.name)), 1)} %)`)).join(', '),
  );
  console.log(
    `targets: 1 % costs <= 5 %: likes ${fmt(100 * (1 - likeRates.pairedRatio('1%')), 1)} %, feed ${fmt(100 * (1 - feedRates.pairedRatio('1%')), 1)} %; ` +
      `100 % costs <= 30 %: likes ${fmt(100 * (1 - likeRates.pairedRatio('100%')), 1)} %, feed ${fmt(100 * (1 - feedRates.pairedRatio('100%')), 1)} %`,
  );
  console.log(`tracing 100%: likes/s ${fmt(likeRates.median('100%'))} vs ${fmt(likeRates.median('off'))} off (ratio ${fmt(likeRates.median('100%') / likeRates.median('off'), 2)})`);
  report('tracing', 'likes/s', likeRates.median('1%'), likeRates.median('off'));
} finally {
  sink.close();
}
