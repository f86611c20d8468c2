/**
 * Capacity of one server process (issue 21): the load tester's `mixed` scenario against one
 * tremolo (memory driver), stepping up virtual users. The server is pinned to one core and
 * the load generator to another (`taskset`), each step on a fresh server.
 *
 * Users connect at `--ramp-rate` per second (5,000 users: a 10 s ramp), then the step runs
 * `--duration` more. The pass criteria are read over the steady state, from 2 s after the ramp
 * to the end (the report's `steady` latencies): like -> counter p99 < 250 ms, HTTP p99 < 100 ms,
 * and the final check passes (nothing acknowledged lost or doubled, no watcher missed a
 * comment). The figure is the most users of a passing step, with the server's RSS and CPU there
 * (read from its metrics listener by the load tester). The whole run's p99s (the ramp's
 * handshakes and the requests queued behind them included) are printed beside them, and so is
 * the load generator's own event-loop delay: the latencies are timed on that loop, so when it
 * is late they include the generator's queueing, not the server's. Beside them: the generator's
 * CPU (per user, and per handshake, ack, event or request), the server's steady-state CPU per user,
 * and how long each main thread waited for a CPU while runnable (schedstat): on a shared machine
 * a step whose processes waited is a measure of the other work there.
 *
 * Baseline in the same run: the same steps against a server with LIVE_COUNTER_COALESCE=false
 * (one counter broadcast per committed write). The steps alternate between the two, so load
 * from other work on the machine hits both alike.
 *
 *   npm run bench -- capacity [--steps 1000,2000,3000,4000,5000,6000] [--duration 20s] [--ramp-rate 500]
 *                             [--server-core 0] [--load-core 1] [--accounts 200] [--videos 100]
 *                             [--naive false] [--profile DIR] [--load-profile DIR] [--reports DIR] [--load-processes 2]
 *
 * --naive false skips the baseline steps (a diagnosis run; the JSON line's baseline is then 0).
 * --profile DIR writes a V8 CPU profile of each coalesced step's server, from its start to the
 * end of the load: `capacity-<users>.cpuprofile`. --reports DIR keeps each step's load-test report
 * there (`capacity-<users>-<coalesced|naive>.json` and `.html`: latency per second, rates, server CPU).
 * --load-profile DIR writes V8 CPU profiles of each coalesced step's load (coordinator) process, every thread,
 * under DIR/<users>/. --load-processes P runs the load in P processes (`tremolo loadtest
 * --processes`), all on the load core: the same CPU, but a burst of deliveries to one process's
 * sockets no longer holds up the timers and reads of the others, and each heap (a connected
 * client holds ~22 KB) is half as big to collect. Default 2: with one process the generator's
 * own event-loop delay, not the server, failed the 5,000-user step (docs/benchmarks.md, capacity).
 *
 * Without `taskset` (or with fewer than two cores) the processes run unpinned, and it says so.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDurationMs } from '../src/loadtest/options.ts';
import type { LoadtestReport } from '../src/loadtest/report.ts';
import { startTremoloChild } from './helpers/child.ts';
import { fmt } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000,2000,3000,4000,5000,6000' },
    duration: { type: 'string', default: '20s' },
    'ramp-rate': { type: 'string', default: '500' },
    'server-core': { type: 'string', default: '0' },
    'load-core': { type: 'string', default: '1' },
    accounts: { type: 'string', default: '200' },
    videos: { type: 'string', default: '100' },
    naive: { type: 'string', default: 'true' },
    'load-processes': { type: 'string', default: '2' },
    profile: { type: 'string' },
    'load-profile': { type: 'string' },
    reports: { type: 'string' },
  },
});
const STEPS = argv.steps.split(',').filter(Boolean).map(Number);
const RAMP_RATE = Number(argv['ramp-rate']);
/** The steady state begins this long after the ramp (the load tester's --steady-after). */
const STEADY_AFTER_S = 2;
const LIKE_TO_COUNTER_P99_MS = 250;
const HTTP_P99_MS = 100;
const progress = (msg: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${msg}`);

const canPin = spawnSync('taskset', ['-V']).status === 0 && availableParallelism() >= 2;

/** Pins every thread of `pid` to `core` (threads started later inherit it). */
function pin(pid: number, core: string): void {
  if (!canPin) return;
  const r = spawnSync('taskset', ['-a', '-p', '-c', core, String(pid)]);
  if (r.status !== 0) throw new Error(`taskset -a -p -c ${core} ${pid}: ${r.stderr.toString()}`);
}

interface Step {
  users: number;
  /** Over the steady state (after the ramp). */
  likeToCounterP99: number;
  httpP99: number;
  /** Over the whole run, the ramp included. */
  wholeLikeToCounterP99: number;
  wholeHttpP99: number;
  /** The load generator's event-loop delay p99 over the steady state. */
  loadLagP99: number;
  /** The load generator's CPU over the steady state, % of its core. */
  loadCpuPercent: number;
  /**
   * The generator's CPU over the steady state per thing it handled there (a handshake, an ack, a
   * delivered event, a REST request): comparable between runs that got different amounts done.
   */
  loadCpuUsPerOp: number;
  gaps: number;
  verified: boolean;
  lost: number;
  duplicates: number;
  connectFailures: number;
  peakRssMb: number;
  meanCpuPercent: number;
  peakCpuPercent: number;
  /** The server's mean CPU over the steady state (its metrics samples from then on). */
  steadyCpuPercent: number;
  /**
   * How long the main thread of the server / of the load process waited for a CPU while runnable,
   * per second of the step (Linux schedstat): well above a few ms, the step measured other work on
   * the machine, not tremolo.
   */
  serverWaitMsPerS: number;
  loadWaitMsPerS: number;
  passed: boolean;
}

/** One step: a fresh server pinned to its core, the load tester pinned to the other. */
async function step(users: number, coalesce: boolean): Promise<Step> {
  const server = startTremoloChild({
    LIVE_COUNTER_COALESCE: String(coalesce),
    // the load-test settings of docs/loadtest.md
    RATE_IP_PER_MIN: '10000000',
    RATE_USER_PER_MIN: '10000000',
    SOCKET_EVENTS_PER_SEC: '10000',
    USER_EVENTS_PER_SEC: '100000',
    USER_MAX_SOCKETS: '100000',
    SOCKET_MAX_PER_IP: '1000000',
    SIGNUP_RATE_PER_HOUR: '100000',
    METRICS_PORT: '0',
  });
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-capacity-'));
  try {
    const ready = (await server.ready) as { url: string; metricsUrl?: string };
    const rampS = Math.ceil(users / RAMP_RATE);
    pin(server.pid, argv['server-core']);
    const profileFile = argv.profile && coalesce ? join(argv.profile, `capacity-${users}.cpuprofile`) : undefined;
    if (profileFile) await server.call('profile', { file: profileFile });
    const json = join(dir, 'report.json');
    const loadProfile = argv['load-profile'] && coalesce ? ['--cpu-prof', '--cpu-prof-dir', join(argv['load-profile'], String(users))] : [];
    const args = [
      ...loadProfile,
      '--import',
      'tsx',
      new URL('../src/cli/main.ts', import.meta.url).pathname,
      'loadtest',
      '--target',
      ready.url,
      ...(ready.metricsUrl ? ['--metrics', ready.metricsUrl] : []),
      '--scenario',
      'mixed',
      '--duration',
      `${rampS + STEADY_AFTER_S + Math.round(parseDurationMs(argv.duration) / 1000)}s`,
      '--ramp',
      `${rampS}s`,
      '--steady-after',
      `${STEADY_AFTER_S}s`,
      '--users',
      String(users),
      '--accounts',
      argv.accounts,
      '--videos',
      argv.videos,
      '--source-addresses',
      '8',
      '--processes',
      argv['load-processes'],
      '--progress',
      'none',
      '--json',
      json,
      '--html',
      join(dir, 'report.html'),
    ];
    const load = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    if (load.pid) pin(load.pid, argv['load-core']);
    const waits = [new RunQueueWait(server.pid), new RunQueueWait(load.pid ?? 0)];
    const sampler = setInterval(() => waits.forEach((w) => w.sample()), 1000);
    const code = await new Promise<number>((resolve) => load.once('exit', (c) => resolve(c ?? 1)));
    clearInterval(sampler);
    waits[0]!.sample();
    if (profileFile) await server.call('profile', { file: profileFile, stop: true });
    if (code === 2) throw new Error('the load tester refused its options');
    if (argv.reports) {
      for (const ext of ['json', 'html']) copyFileSync(join(dir, `report.${ext}`), join(argv.reports, `capacity-${users}-${coalesce ? 'coalesced' : 'naive'}.${ext}`));
    }
    const r = JSON.parse(readFileSync(json, 'utf8')) as LoadtestReport;
    const srv = r.server[0];
    const steady = r.steady?.latency;
    const s: Step = {
      users,
      likeToCounterP99: steady?.likeToCounter.p99 ?? Number.NaN,
      httpP99: steady?.http.p99 ?? Number.NaN,
      wholeLikeToCounterP99: r.latency.likeToCounter.p99,
      wholeHttpP99: r.latency.http.p99,
      loadLagP99: steady?.loadLag.p99 ?? Number.NaN,
      loadCpuPercent: r.steady?.generatorCpuPercent ?? Number.NaN,
      loadCpuUsPerOp: usPerOp(r),
      gaps: r.gaps,
      verified: r.ok,
      lost: r.verify.lost,
      duplicates: r.verify.duplicates,
      connectFailures: Object.values(r.connections.failed).reduce((a, b) => a + b, 0),
      peakRssMb: srv?.peakRssMb ?? Number.NaN,
      meanCpuPercent: srv?.meanCpuPercent ?? Number.NaN,
      peakCpuPercent: srv?.peakCpuPercent ?? Number.NaN,
      steadyCpuPercent: meanOf((srv?.samples ?? []).filter((x) => x.t >= (r.steady?.fromS ?? Infinity) && (x.sockets ?? 0) > 0).map((x) => x.cpuPercent)),
      serverWaitMsPerS: waits[0]!.msPerSecond(),
      loadWaitMsPerS: waits[1]!.msPerSecond(),
      passed: false,
    };
    s.passed = s.verified && s.likeToCounterP99 < LIKE_TO_COUNTER_P99_MS && s.httpP99 < HTTP_P99_MS;
    return s;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run-queue wait of a process's main thread (`/proc/<pid>/schedstat`, ns), sampled while it lives. */
class RunQueueWait {
  private first: { at: number; ns: number } | undefined;
  private last: { at: number; ns: number } | undefined;

  constructor(private readonly pid: number) {
    this.sample();
  }

  sample(): void {
    try {
      const ns = Number(readFileSync(`/proc/${this.pid}/schedstat`, 'utf8').split(' ')[1]);
      if (!Number.isFinite(ns)) return;
      this.last = { at: performance.now(), ns };
      this.first ??= this.last;
    } catch {
      // not Linux, or the process has exited: keep the last sample
    }
  }

  msPerSecond(): number {
    const { first, last } = this;
    return first && last && last.at > first.at ? (last.ns - first.ns) / 1e6 / ((last.at - first.at) / 1000) : Number.NaN;
  }
}

/** The generator's steady-state CPU (µs/s) over what it handled per second from then on. */
function usPerOp(r: LoadtestReport): number {
  const from = r.steady?.fromS;
  const points = from === undefined ? [] : r.timeline.filter((p) => p.t > from);
  const opsPerSec = meanOf(points.map((p) => p.connects + p.acksOk + p.ackErrors + p.events + p.http));
  return ((r.steady?.generatorCpuPercent ?? Number.NaN) * 10_000) / opsPerSec;
}

function meanOf(xs: (number | undefined)[]): number {
  const v = xs.filter((x): x is number => x !== undefined);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : Number.NaN;
}

const line = (s: Step) =>
  `${fmt(s.users)} users, steady state: like->counter p99 ${fmt(s.likeToCounterP99)} ms, HTTP p99 ${fmt(s.httpP99)} ms (whole run ${fmt(s.wholeLikeToCounterP99)} / ${fmt(s.wholeHttpP99)} ms; load generator's event-loop delay p99 ${fmt(s.loadLagP99)} ms, its CPU ${fmt(s.loadCpuPercent)}% = ${fmt((s.loadCpuPercent * 10_000) / s.users)} µs/s per user, ${fmt(s.loadCpuUsPerOp, 1)} µs per handshake, ack, event or request), ` +
  `final check ${s.verified ? 'passed' : `FAILED (lost ${s.lost}, duplicates ${s.duplicates}, comment deliveries missed or unrecovered ${s.gaps})`}` +
  `${s.connectFailures ? `, ${fmt(s.connectFailures)} connections failed` : ''}; server peak RSS ${fmt(s.peakRssMb)} MB, CPU mean ${fmt(s.meanCpuPercent)}% (peak ${fmt(s.peakCpuPercent)}%; steady state ${fmt(s.steadyCpuPercent)}% = ${fmt((s.steadyCpuPercent * 10_000) / s.users)} µs/s per user); waited for a CPU: server ${fmt(s.serverWaitMsPerS)} ms/s, generator ${fmt(s.loadWaitMsPerS)} ms/s -> ${s.passed ? 'pass' : 'fail'}`;

console.log(
  `mixed scenario: users connect at ${fmt(RAMP_RATE)}/s, then ${argv.duration} (measured from ${STEADY_AFTER_S} s after the ramp), steps ${STEPS.map((n) => fmt(n)).join(', ')} users; ` +
    (canPin ? `server on core ${argv['server-core']}, load generator on core ${argv['load-core']}` : 'NOT pinned (no taskset or fewer than 2 cores)'),
);
const coalesced: Step[] = [];
const naive: Step[] = [];
for (const users of STEPS) {
  progress(`${users} users, coalesced`);
  coalesced.push(await step(users, true));
  console.log(`  coalesced ${line(coalesced[coalesced.length - 1]!)}`);
  if (argv.naive === 'false') continue;
  progress(`${users} users, LIVE_COUNTER_COALESCE=false`);
  naive.push(await step(users, false));
  console.log(`  naive     ${line(naive[naive.length - 1]!)}`);
}
const most = (steps: Step[]) => steps.filter((s) => s.passed).reduce<Step | undefined>((best, s) => (!best || s.users > best.users ? s : best), undefined);
const best = most(coalesced);
const bestNaive = most(naive);
console.log(best ? `most users passing (coalesced): ${fmt(best.users)}, server RSS ${fmt(best.peakRssMb)} MB, CPU ${fmt(best.meanCpuPercent)}%` : 'no step passed (coalesced)');
console.log(bestNaive ? `most users passing (LIVE_COUNTER_COALESCE=false): ${fmt(bestNaive.users)}` : 'no step passed (LIVE_COUNTER_COALESCE=false)');
report('capacity', `users on one core (mixed, steady state; like->counter p99 < ${LIKE_TO_COUNTER_P99_MS} ms, HTTP p99 < ${HTTP_P99_MS} ms, check passed)`, best?.users ?? 0, bestNaive?.users ?? 0);
