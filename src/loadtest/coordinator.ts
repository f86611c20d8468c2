/**
 * `runLoadtest`: creates the fixtures, runs the shards (in this process, or one forked
 * process each with `processes > 1`), adds up their figures every second, watches the
 * servers' metrics endpoints, and ends with the final check of acknowledged writes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createFixtures, type Fixtures } from './fixtures.ts';
import type { LedgerSnapshot } from './ledger.ts';
import { resolveOptions } from './options.ts';
import { renderHtmlReport } from './report-html.ts';
import { buildReport, RunAggregate, type LoadtestReport, type RatePoint } from './report.ts';
import { ServerWatch } from './server-metrics.ts';
import type { FromShard, ToShard } from './shard-process.ts';
import { Shard, type ShardPlan } from './shard.ts';
import type { StatsInterval } from './stats.ts';
import { verifyWrites } from './verify.ts';

export interface ProgressLine {
  type: 'progress';
  /** Seconds into the load phase, and its length. */
  t: number;
  of: number;
  rates: RatePoint;
  connections: number;
  connectFailures: number;
  ackErrors: number;
  likeToCounterP99: number | undefined;
  commentDeliveryP99: number | undefined;
  server: { rssMb: number; cpuPercent: number | undefined };
}

export interface RunHooks {
  /** Once a second during the load phase. */
  onProgress?: (p: ProgressLine) => void;
  /** Setup and check steps, as text. */
  onStep?: (step: string) => void;
  /** Called after the load and before the final check (tests sabotage the server here). */
  beforeVerify?: (fixtures: Fixtures, ledgers: LedgerSnapshot[]) => Promise<void>;
  /** Aborting ends the load phase early; the check still runs. */
  signal?: AbortSignal;
}

interface ShardHandle {
  start(plan: ShardPlan): void;
  stop(): void;
  /** Resolves with the shard's ledger once its last interval was handed over. */
  done: Promise<LedgerSnapshot>;
}

export async function runLoadtest(input: Parameters<typeof resolveOptions>[0], hooks: RunHooks = {}): Promise<LoadtestReport> {
  const o = resolveOptions(input);
  const step = hooks.onStep ?? (() => {});
  const startedAt = new Date();
  const agg = new RunAggregate();
  const onInterval = (index: number, interval: StatsInterval) => agg.add(index, interval);

  const t0 = Date.now();
  const fixtures = await createFixtures(o, step);
  const setupMs = Date.now() - t0;

  step(o.processes > 1 ? `starting ${o.processes} shard processes` : 'starting load');
  const handles = o.processes > 1 ? await Promise.all(Array.from({ length: o.processes }, (_, i) => forkShard(i, onInterval))) : [inProcessShard(onInterval)];

  const startAt = Date.now() + 200;
  const stopAt = startAt + o.durationMs;
  const server = new ServerWatch(o.targets, startAt, { urls: o.metrics, token: o.metricsToken });
  await server.scrape();
  server.markLoadStart();
  handles.forEach((h, index) => h.start({ index, count: handles.length, options: o, fixtures, startAt, stopAt }));
  const stopAll = () => handles.forEach((h) => h.stop());
  hooks.signal?.addEventListener('abort', stopAll, { once: true });

  let lastTick = Date.now();
  let scraping: Promise<void> | undefined;
  const tick = () => {
    const now = Date.now();
    const t = Math.round((now - startAt) / 100) / 10;
    const rates = agg.closeWindow(t, Math.max(0.001, (now - lastTick) / 1000));
    // intervals handed over from here on were measured after the ramp and the settling time
    if (now - startAt >= o.rampMs + o.steadyAfterMs && now < stopAt) agg.startSteady(t);
    lastTick = now;
    scraping ??= server.scrape().finally(() => (scraping = undefined));
    const p99 = (m: 'likeToCounter' | 'commentDelivery') => agg.latency.get(m)?.timeline.at(-1)?.p99;
    hooks.onProgress?.({
      type: 'progress',
      t,
      of: o.durationMs / 1000,
      rates,
      connections: agg.openNow,
      connectFailures: Object.values(agg.byCode('conn.fail')).reduce((a, b) => a + b, 0),
      ackErrors: [...agg.counters].reduce((n, [name, v]) => (name.startsWith('ack.') && !name.endsWith('.ok') ? n + v : n), 0),
      likeToCounterP99: p99('likeToCounter'),
      commentDeliveryP99: p99('commentDelivery'),
      server: server.latest(),
    });
  };
  const ticker = setInterval(tick, 1000);
  let ledgers: LedgerSnapshot[];
  try {
    ledgers = await Promise.all(handles.map((h) => h.done));
  } finally {
    clearInterval(ticker);
    hooks.signal?.removeEventListener('abort', stopAll);
  }
  await scraping;
  await server.scrape();
  tick();
  const durationS = Math.round((Math.min(Date.now(), stopAt) - startAt) / 100) / 10;

  if (hooks.beforeVerify) await hooks.beforeVerify(fixtures, ledgers);
  step('checking the server holds every acknowledged write');
  const verify = await verifyWrites(o, fixtures, ledgers);
  const report = buildReport({
    options: o,
    startedAt,
    setup: { runId: fixtures.runId, accounts: fixtures.accounts.length, videos: fixtures.videos.length, setupMs },
    durationS,
    agg,
    server: server.summary(),
    verify,
  });
  if (o.jsonPath) await writeFile(o.jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  if (o.htmlPath) await writeFile(o.htmlPath, renderHtmlReport(report));
  return report;
}

function inProcessShard(onInterval: (index: number, i: StatsInterval) => void): ShardHandle {
  let shard: Shard | undefined;
  let resolveDone!: (l: LedgerSnapshot) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<LedgerSnapshot>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  return {
    start(plan) {
      const s = (shard = new Shard(plan));
      const timer = setInterval(() => {
        s.probe.sweep(performance.now());
        onInterval(plan.index, s.stats.drain());
      }, 1000);
      s.run().then(
        () => {
          clearInterval(timer);
          onInterval(plan.index, s.stats.drain());
          resolveDone(s.ledger.snapshot());
        },
        (err: unknown) => {
          clearInterval(timer);
          rejectDone(err);
        },
      );
    },
    stop: () => shard?.stop(),
    done,
  };
}

/** Forks a shard process running the same code (TypeScript through tsx when not built). */
async function forkShard(index: number, onInterval: (index: number, i: StatsInterval) => void): Promise<ShardHandle> {
  const ts = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`./shard-process.${ts ? 'ts' : 'js'}`, import.meta.url));
  // `--import tsx` resolves from the child's cwd: the project root, where tsx is installed
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const child: ChildProcess = fork(entry, [], {
    cwd: root,
    execArgv: ts ? ['--import', 'tsx'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m: FromShard) => (m.type === 'ready' ? resolve() : reject(new Error(`shard ${index}: unexpected ${m.type}`))));
    child.once('exit', (code) => reject(new Error(`shard ${index} exited with ${code} before it was ready`)));
    child.once('error', reject);
  });
  const done = new Promise<LedgerSnapshot>((resolve, reject) => {
    child.on('message', (m: FromShard) => {
      if (m.type === 'interval') onInterval(index, m.interval);
      else if (m.type === 'done') {
        onInterval(index, m.interval);
        resolve(m.ledger);
      } else if (m.type === 'error') reject(new Error(`shard ${index}: ${m.message}`));
    });
    child.on('exit', (code) => reject(new Error(`shard ${index} exited with ${code} before it reported`)));
  });
  const send = (m: ToShard) => {
    if (child.connected) child.send(m);
  };
  return { start: (plan) => send({ type: 'start', plan }), stop: () => send({ type: 'stop' }), done };
}
