/**
 * `GET /v1/feed` throughput (issue 5): a user following 200 authors, a few of them above
 * the push threshold (pulled at read time, the rest pushed into the inbox), warm caches.
 * The server runs in its own process; all data is created through the REST API; the
 * load comes from autocannon in another process. Baseline in the same run: a bare
 * node:http server answering a constant JSON body of the same size (the ceiling). Each round
 * also reads `GET /healthz` of the same server: its fixed cost per request (fastify and the
 * global hooks), whatever the route does. Server CPU per request is given for all three.
 *
 *   npm run bench -- feed [--storage memory|redis] [--runs 3] [--seconds 5] [--connections 10] [--profile FILE] [--ladder]
 *
 * --profile writes a V8 CPU profile of the server during the measured feed runs only
 * (BENCH_CPU_PROF=<dir> profiles the whole life of the server, setup included).
 *
 * --ladder measures where the fixed cost per request goes instead (see `ladder` below); with
 * it, --profile names a directory.
 *
 * With --h2 (issue 20) the server serves TLS (a certificate made for the run with openssl),
 * and the same feed is read over HTTP/2 (--h2-sessions connections, the same number of
 * requests in flight multiplexed on them) and over HTTP/1.1 (--connections keep-alive
 * connections, one request in flight each), by the same load generator in one run; the
 * HTTP/1.1 figure is the baseline. Reported as `feed-h2`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HttpClient } from '../src/client/http-client.ts';
import { autocannon, type LoadResult } from './helpers/autocannon.ts';
import { cpuSecondsOf, startChild, startTremoloChild, type Child } from './helpers/child.ts';
import { describe, fmt, summarize } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    storage: { type: 'string', default: 'memory' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    h2: { type: 'boolean', default: false },
    'h2-sessions': { type: 'string', default: '2' },
    profile: { type: 'string' },
    ladder: { type: 'boolean', default: false },
  },
});

// --h2: a certificate for this run, trusted by this process's fetch through NODE_EXTRA_CA_CERTS
// (read only at start-up, so the benchmark runs again in a child that has it)
const tlsDir = process.env.BENCH_TLS_DIR;
if (argv.h2 && !tlsDir) {
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-bench-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_TLS_DIR: dir, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') },
  });
  rmSync(dir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}
const AUTHORS = 200;
const PULLED = 5; // authors above the push threshold
const PUSH_MAX = 3; // FANOUT_PUSH_MAX_FOLLOWERS
const VIDEOS_PER_AUTHOR = 3;
const here = (p: string) => new URL(p, import.meta.url);

const env: Record<string, string> = {
  STORAGE: argv.storage,
  FANOUT_PUSH_MAX_FOLLOWERS: String(PUSH_MAX),
  RATE_IP_PER_MIN: '100000000',
  RATE_USER_PER_MIN: '100000000',
  LOGIN_RATE_PER_MIN: '100000',
  SIGNUP_RATE_PER_HOUR: '100000',
  PASSWORD_HASH_QUEUE: '10000',
  ...(argv.storage === 'redis' ? { REDIS_PREFIX: `tremolo-bench-feed-${process.pid}:` } : {}),
  ...(tlsDir ? { TLS_CERT: join(tlsDir, 'cert.pem'), TLS_KEY: join(tlsDir, 'key.pem') } : {}),
};
// BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server
const server = startTremoloChild(env);
const { url } = (await server.ready) as { url: string };

/** In parallel, `width` at a time. */
async function pool<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

async function register(prefix: string, i: number): Promise<{ http: HttpClient; id: string }> {
  const http = new HttpClient(url);
  const s = await http.register(`${prefix}${process.pid}x${i}`, 'correct horse battery');
  return { http, id: s.user.id };
}

let token = '';
try {
  const setupStart = performance.now();
  const reader = new HttpClient(url);
  const session = await reader.register(`reader${process.pid}`, 'correct horse battery');
  token = session.token;
  const authors = await pool(AUTHORS, 8, (i) => register('author', i));
  // the first PULLED authors (who also post last, so the first page shows them) get extra followers, so they are above the push threshold
  const extra = await pool(PUSH_MAX + 1, 4, (i) => register('fan', i));
  await pool(PULLED * extra.length, 8, async (k) => extra[k % extra.length]!.http.follow(authors[Math.floor(k / extra.length)]!.id));
  await pool(AUTHORS, 8, async (i) => reader.follow(authors[i]!.id));
  await pool(AUTHORS * VIDEOS_PER_AUTHOR, 8, async (k) => authors[AUTHORS - 1 - (k % AUTHORS)]!.http.createVideo({ title: `video ${k}` }));
  // fan-out is off the request path: wait until the feed shows every author's videos
  const deadline = Date.now() + 30_000;
  for (;;) {
    const page = await reader.feed({ limit: 100 });
    if (page.items.length === 100 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const first = await reader.feed();
  const pulledIds = new Set(authors.slice(0, PULLED).map((a) => a.id));
  console.log(
    `setup: ${AUTHORS} authors (${PULLED} above the push threshold of ${PUSH_MAX} followers), ${AUTHORS * VIDEOS_PER_AUTHOR} videos, ` +
      `${fmt((performance.now() - setupStart) / 1000, 1)} s; first page: ${first.items.length} videos, ` +
      `${first.items.filter((v) => pulledIds.has(v.ownerId)).length} from pulled authors`,
  );

  const feedUrl = `${url}/v1/feed`;
  const headers = { authorization: `Bearer ${token}` };
  if (tlsDir) {
    await compareHttp2(feedUrl, headers, readFileSync(join(tlsDir, 'cert.pem'), 'utf8'));
    await server.call('close').catch(() => {});
    await server.stop();
    process.exit(0);
  }
  // body size of one answer, for the baseline
  const res = await fetch(feedUrl, { headers });
  const bytes = (await res.arrayBuffer()).byteLength;
  if (res.status !== 200) throw new Error(`GET /v1/feed answered ${res.status}`);
  const bare = startChild(here('./helpers/constant-http.ts'), { BODY_BYTES: String(bytes) });
  const { url: bareUrl } = (await bare.ready) as { url: string };

  const load = { connections: Number(argv.connections), seconds: Number(argv.seconds) };
  if (argv.ladder) {
    await ladder(bytes, [bare, bareUrl], feedUrl, headers, load);
    await bare.stop();
    process.exit(0);
  }
  await autocannon(feedUrl, { ...load, seconds: 2, headers }); // warm-up
  await autocannon(bareUrl, { ...load, seconds: 2 });
  const feedRuns: LoadResult[] = [];
  const bareRuns: LoadResult[] = [];
  // server CPU (all its threads, user + system) per request: steadier than req/s on a shared box
  const cpuS = (child = server) => cpuSecondsOf(child);
  const cpuPerRequest: number[] = [];
  const bareCpuPerRequest: number[] = [];
  // the same server's fixed cost per request, whatever the route does: GET /healthz (the
  // framework and the global hooks, no sign-in, no store)
  const healthRuns: LoadResult[] = [];
  const healthCpuPerRequest: number[] = [];
  for (let r = 0; r < Number(argv.runs); r++) {
    if (argv.profile) await server.call('profileStart');
    const before = await cpuS();
    const run = await autocannon(feedUrl, { ...load, headers });
    cpuPerRequest.push(((await cpuS()) - before) / (run.reqPerSec * load.seconds));
    if (argv.profile) await server.call('profileStop', { path: r === 0 ? argv.profile : `${argv.profile}.${r}` });
    feedRuns.push(run);
    const bareBefore = await cpuS(bare);
    const bareRun = await autocannon(bareUrl, load);
    bareCpuPerRequest.push(((await cpuS(bare)) - bareBefore) / (bareRun.reqPerSec * load.seconds));
    bareRuns.push(bareRun);
    const healthBefore = await cpuS();
    const healthRun = await autocannon(`${url}/healthz`, load);
    healthCpuPerRequest.push(((await cpuS()) - healthBefore) / (healthRun.reqPerSec * load.seconds));
    healthRuns.push(healthRun);
  }
  // and a signed-in read of one cached profile (JWT verify + rate limits)
  const floorProfile = await autocannon(`${url}/v1/users/${session.user.id}`, { ...load, headers });
  await bare.stop();
  const bad = feedRuns.reduce((n, r) => n + r.non2xx + r.errors, 0);
  if (bad) throw new Error(`${bad} feed requests failed or were not 2xx`);

  const feed = summarize(feedRuns.map((r) => r.reqPerSec));
  const ceiling = summarize(bareRuns.map((r) => r.reqPerSec));
  const p99 = summarize(feedRuns.map((r) => r.p99), true);
  const bp99 = summarize(bareRuns.map((r) => r.p99), true);
  console.log(`GET /v1/feed (${argv.storage}, ${bytes} B body), autocannon -c ${load.connections} -d ${load.seconds}, best of ${argv.runs}`);
  console.log(`tremolo:   req/s ${describe(feed)}; p99 ms ${describe(p99)}; server CPU µs per request ${describe(summarize(cpuPerRequest.map((s) => s * 1e6), true))}`);
  console.log(`bare http: req/s ${describe(ceiling)}; p99 ms ${describe(bp99)}; server CPU µs per request ${describe(summarize(bareCpuPerRequest.map((s) => s * 1e6), true))}`);
  const health = summarize(healthRuns.map((r) => r.reqPerSec));
  console.log(`GET /healthz: req/s ${describe(health)}; server CPU µs per request ${describe(summarize(healthCpuPerRequest.map((s) => s * 1e6), true))}`);
  console.log(`ratios to bare http (best runs): feed ${fmt(feed.best / ceiling.best, 2)}, /healthz ${fmt(health.best / ceiling.best, 2)}`);
  console.log(`same server, one run: signed-in GET /v1/users/:id ${fmt(floorProfile.reqPerSec)} req/s`);
  report(argv.storage === 'memory' ? 'feed' : `feed-${argv.storage}`, 'req/s', feed.best, ceiling.best);
} finally {
  await server.call('close').catch(() => {});
  await server.stop();
}

/**
 * --ladder: where the fixed cost per request goes. Server CPU per request (and req/s) of bare
 * node:http, then a fastify app answering the same body on a signed-in `GET /v1/feed` with
 * tremolo's pieces added one at a time (helpers/http-ladder-server.ts), then tremolo's own
 * `/healthz` and `/v1/feed`; every target once per round, rounds back to back. With
 * `--profile DIR`, the last round writes a V8 CPU profile and a sampling heap profile of each
 * target's server there (`<n>-<target>.cpuprofile`, `.heapprofile`).
 */
async function ladder(bytes: number, [bare, bareUrl]: [Child, string], feedUrl: string, headers: Record<string, string>, load: { connections: number; seconds: number }): Promise<void> {
  const steps = ['fastify', 'options', 'onRequest', 'headers', 'limit', 'onResponse', 'histogram', 'auth'];
  const children = steps.map((step) => startChild(here('./helpers/http-ladder-server.ts'), { LADDER_STEP: step, BODY_BYTES: String(bytes) }));
  try {
    const readies = (await Promise.all(children.map((c) => c.ready))) as { url: string; token: string }[];
    const targets: { name: string; child: Child; url: string; headers?: Record<string, string> }[] = [
      { name: 'bare node:http', child: bare, url: bareUrl },
      ...steps.map((step, i) => ({ name: `fastify ${i === 0 ? '' : '+ '}${step}`, child: children[i]!, url: `${readies[i]!.url}/v1/feed`, headers: { authorization: `Bearer ${readies[i]!.token}` } })),
      { name: 'tremolo GET /healthz', child: server, url: `${url}/healthz` },
      { name: 'tremolo GET /v1/feed', child: server, url: feedUrl, headers },
    ];
    for (const t of targets) await autocannon(t.url, { ...load, seconds: 1, ...(t.headers ? { headers: t.headers } : {}) }); // warm-up
    const cpu: number[][] = targets.map(() => []);
    const rate: number[][] = targets.map(() => []);
    for (let r = 0; r < Number(argv.runs); r++) {
      for (const [i, t] of targets.entries()) {
        // --profile DIR: the last round's runs are profiled, one file per target
        const profile = argv.profile && r === Number(argv.runs) - 1 ? join(argv.profile, `${i}-${t.name.replace(/\W+/g, '-')}.cpuprofile`) : undefined;
        if (profile) await t.child.call('profile', { file: profile, heap: true });
        const before = await cpuSecondsOf(t.child);
        const run = await autocannon(t.url, { ...load, ...(t.headers ? { headers: t.headers } : {}) });
        const after = await cpuSecondsOf(t.child);
        if (profile) await t.child.call('profile', { file: profile, stop: true, heap: true });
        if (run.non2xx + run.errors) throw new Error(`${t.name}: ${run.non2xx + run.errors} requests failed or were not 2xx`);
        cpu[i]!.push(((after - before) / (run.reqPerSec * load.seconds)) * 1e6);
        rate[i]!.push(run.reqPerSec);
      }
    }
    // the least CPU per request of the rounds: on a shared box the other runs are the ones other work disturbed
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`ladder, ${bytes} B body, autocannon -c ${load.connections} -d ${load.seconds}, ${argv.runs} rounds: server CPU µs per request (least; runs), req/s (median)`);
    let previous: number | undefined;
    for (const [i, t] of targets.entries()) {
      const m = Math.min(...cpu[i]!);
      const step = previous === undefined || i > steps.length ? '' : ` (${m - previous >= 0 ? '+' : ''}${fmt(m - previous, 1)})`;
      console.log(`${t.name.padEnd(24)} ${fmt(m, 1).padStart(6)} µs${step.padEnd(9)} runs ${cpu[i]!.map((c) => fmt(c, 1)).join(' / ')}; ${fmt(median(rate[i]!))} req/s (last run ${fmt(rate[i]!.at(-1)! * load.seconds)} requests)`);
      previous = m;
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

/** The h2 variant: the same feed over HTTP/2 and HTTP/1.1 (TLS both), same generator, same requests in flight. */
async function compareHttp2(feedUrl: string, headers: Record<string, string>, ca: string): Promise<void> {
  const loader = startChild(here('./helpers/request-load.ts'));
  try {
    await loader.ready;
    const connections = Number(argv.connections);
    const sessions = Number(argv['h2-sessions']);
    const streams = Math.max(1, Math.round(connections / sessions));
    const seconds = Number(argv.seconds);
    const h2 = { mode: 'h2', url: feedUrl, headers, ca, connections: sessions, streams, seconds };
    const h1 = { mode: 'h1', url: feedUrl, headers, ca, connections, seconds };
    await loader.call('run', { ...h2, seconds: 1 }); // warm-up
    await loader.call('run', { ...h1, seconds: 1 });
    const h2Runs: number[] = [];
    const h1Runs: number[] = [];
    for (let r = 0; r < Number(argv.runs); r++) {
      for (const [args, into] of [[h2, h2Runs], [h1, h1Runs]] as const) {
        const res = await loader.call<{ perSec: number; failed: number }>('run', args);
        if (res.failed) throw new Error(`${res.failed} ${args.mode} feed requests failed`);
        into.push(res.perSec);
      }
    }
    const two = summarize(h2Runs);
    const one = summarize(h1Runs);
    console.log(`GET /v1/feed over TLS (${argv.storage}), ${sessions * streams} requests in flight, ${seconds} s x ${argv.runs} runs`);
    console.log(`HTTP/2:   req/s ${describe(two)} (${sessions} connections x ${streams} streams)`);
    console.log(`HTTP/1.1: req/s ${describe(one)} (${connections} connections)`);
    report('feed-h2', 'req/s', two.best, one.best);
  } finally {
    await loader.stop();
  }
}
