/**
 * The run's totals: shard intervals added up (counters, latency histograms, per-second
 * rates), and the final report built from them, the server's figures and the final check.
 */
import { LATENCY_DOC, LATENCY_METRICS, LatencyAggregate, type LatencyBucket, type LatencyMetric, type LatencyPoint, type LatencySummary } from './latency.ts';
import type { LoadtestOptions, ScenarioName } from './options.ts';
import { SCENARIO_DOC } from './scenarios/index.ts';
import type { ServerSummary } from './server-metrics.ts';
import type { StatsInterval } from './stats.ts';
import type { VerifyResult } from './verify.ts';

/** Rates over one second of the run. */
export interface RatePoint {
  t: number;
  open: number;
  connects: number;
  connectFailures: number;
  acksOk: number;
  ackErrors: number;
  events: number;
  http: number;
}

export class RunAggregate {
  readonly counters = new Map<string, number>();
  readonly latency = new Map<LatencyMetric, LatencyAggregate>(LATENCY_METRICS.map((m) => [m, new LatencyAggregate()]));
  readonly timeline: RatePoint[] = [];
  /** Seconds into the load when the steady state began (startSteady). */
  steadyFromS: number | undefined;
  private window = new Map<string, number>();
  private readonly open = new Map<number, number>();
  peakOpen = 0;
  /** The load processes' CPU time (ms): the whole run, and from the steady state on. */
  cpuMs = 0;
  steadyCpuMs = 0;

  add(shard: number, interval: StatsInterval): void {
    for (const [name, n] of Object.entries(interval.counters)) {
      this.counters.set(name, (this.counters.get(name) ?? 0) + n);
      this.window.set(name, (this.window.get(name) ?? 0) + n);
    }
    for (const [metric, data] of Object.entries(interval.latency)) this.latency.get(metric as LatencyMetric)?.add(data);
    this.open.set(shard, interval.open);
    this.cpuMs += interval.cpuMs;
    if (this.steadyFromS !== undefined) this.steadyCpuMs += interval.cpuMs;
    this.peakOpen = Math.max(this.peakOpen, this.openNow);
  }

  /** From now on (`t` seconds into the load), latencies also count towards the steady-state summary. */
  startSteady(t: number): void {
    if (this.steadyFromS !== undefined) return;
    this.steadyFromS = t;
    for (const agg of this.latency.values()) agg.startSteady();
  }

  get openNow(): number {
    let n = 0;
    for (const v of this.open.values()) n += v;
    return n;
  }

  /** Closes the current second (`seconds` long) as the point at `t`. */
  closeWindow(t: number, seconds: number): RatePoint {
    const w = this.window;
    this.window = new Map();
    const sum = (pred: (name: string) => boolean) => [...w].reduce((n, [name, v]) => (pred(name) ? n + v : n), 0);
    const rate = (n: number) => Math.round((n / seconds) * 10) / 10;
    const point: RatePoint = {
      t,
      open: this.openNow,
      connects: rate(w.get('conn.ok') ?? 0),
      connectFailures: rate(sum((n) => n.startsWith('conn.fail.'))),
      acksOk: rate(sum((n) => n.startsWith('ack.') && n.endsWith('.ok'))),
      ackErrors: rate(sum((n) => n.startsWith('ack.') && !n.endsWith('.ok'))),
      events: rate((w.get('events.counters') ?? 0) + (w.get('events.comment') ?? 0)),
      http: rate(sum((n) => n.startsWith('http.'))),
    };
    this.timeline.push(point);
    for (const agg of this.latency.values()) agg.closeWindow(t);
    return point;
  }

  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** Counters under `prefix.` grouped by the rest of their name. */
  byCode(prefix: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, n] of this.counters) if (name.startsWith(`${prefix}.`)) out[name.slice(prefix.length + 1)] = n;
    return out;
  }
}

export interface LoadtestReport {
  tool: 'tremolo loadtest';
  /** The final check passed and no watcher saw a gap. */
  ok: boolean;
  /**
   * Gaps in what watchers saw: comment deliveries that never reached a socket watching the
   * video (within the horizon, reconnects and recovery included), plus recoveries that could
   * not replay what was missed (`recovered: false`, a fresh snapshot instead).
   */
  gaps: number;
  scenario: ScenarioName;
  description: string;
  startedAt: string;
  /** As run; without where the files went and how metrics were read (the token is a secret). */
  options: Omit<LoadtestOptions, 'progress' | 'jsonPath' | 'htmlPath' | 'metrics' | 'metricsToken'>;
  setup: { runId: string; accounts: number; videos: number; setupMs: number };
  /** Length of the load phase actually measured, in seconds. */
  durationS: number;
  connections: { established: number; failed: Record<string, number>; dropped: number; reconnected: number; closed: number; peakOpen: number };
  acks: Record<string, { ok: number; errors: Record<string, number> }>;
  writes: { likeAcks: number; commentAcks: number; commentsRetried: number; commentsResent: number };
  delivery: {
    events: number;
    eventsPerSec: number;
    counters: number;
    comments: number;
    resets: number;
    beforeAck: number;
    likesUnobserved: number;
    likesMissed: number;
    commentDeliveriesMissed: number;
  };
  http: { requests: number; perSec: number; errors: Record<string, number> };
  latency: Record<LatencyMetric, LatencySummary & { what: string }>;
  /**
   * The same latencies from `fromS` seconds into the load on (the end of the connection ramp
   * plus `--steady-after`): what the users see once they are connected, without the handshakes
   * of the ramp and the requests queued behind them. Absent when the run ended before.
   */
  steady?: { fromS: number; latency: Record<LatencyMetric, LatencySummary>; generatorCpuPercent: number };
  /**
   * The load generator's own CPU use (all its shard processes, user + system), in percent of
   * one core over the load phase: near 100 with every process on one core, it is the limit.
   */
  generator: { cpuMs: number; cpuPercent: number };
  histograms: Record<LatencyMetric, LatencyBucket[]>;
  latencyTimeline: Record<LatencyMetric, LatencyPoint[]>;
  timeline: RatePoint[];
  server: ServerSummary[];
  verify: VerifyResult;
  counters: Record<string, number>;
}

export function buildReport(input: {
  options: LoadtestOptions;
  startedAt: Date;
  setup: LoadtestReport['setup'];
  durationS: number;
  agg: RunAggregate;
  server: ServerSummary[];
  verify: VerifyResult;
}): LoadtestReport {
  const { agg, options, durationS } = input;
  const { progress: _p, jsonPath: _j, htmlPath: _h, metrics: _m, metricsToken: _t, ...opts } = options;
  const acks: LoadtestReport['acks'] = {};
  for (const [name, n] of agg.counters) {
    const m = /^ack\.(.+)\.([^.]+)$/.exec(name);
    if (!m) continue;
    const [, event = '', code = ''] = m;
    const entry = (acks[event] ??= { ok: 0, errors: {} });
    if (code === 'ok') entry.ok += n;
    else entry.errors[code] = (entry.errors[code] ?? 0) + n;
  }
  const httpErrors = agg.byCode('http.error');
  const httpRequests = agg.get('http.ok') + Object.values(httpErrors).reduce((a, b) => a + b, 0);
  const events = agg.get('events.counters') + agg.get('events.comment');
  const per = (n: number) => (durationS > 0 ? Math.round((n / durationS) * 10) / 10 : 0);
  const gaps = agg.get('delivery.commentMissed') + agg.get('events.reset');
  const latency = {} as LoadtestReport['latency'];
  const histograms = {} as LoadtestReport['histograms'];
  const latencyTimeline = {} as LoadtestReport['latencyTimeline'];
  const steady = {} as Record<LatencyMetric, LatencySummary>;
  for (const m of LATENCY_METRICS) {
    const a = agg.latency.get(m) ?? new LatencyAggregate();
    latency[m] = { ...a.summary(), what: LATENCY_DOC[m] };
    histograms[m] = a.buckets();
    latencyTimeline[m] = a.timeline;
    steady[m] = a.steady();
  }
  return {
    tool: 'tremolo loadtest',
    ok: input.verify.ok && gaps === 0,
    gaps,
    scenario: options.scenario,
    description: SCENARIO_DOC[options.scenario],
    startedAt: input.startedAt.toISOString(),
    options: opts,
    setup: input.setup,
    durationS,
    connections: {
      established: agg.get('conn.ok'),
      failed: agg.byCode('conn.fail'),
      dropped: agg.get('conn.dropped'),
      reconnected: agg.get('conn.reconnected'),
      closed: agg.get('conn.closed'),
      peakOpen: agg.peakOpen,
    },
    acks,
    writes: {
      likeAcks: (acks['video:like']?.ok ?? 0) + (acks['video:unlike']?.ok ?? 0),
      commentAcks: acks['comment:add']?.ok ?? 0,
      commentsRetried: agg.get('comments.retried'),
      commentsResent: agg.get('comments.resent'),
    },
    delivery: {
      events,
      eventsPerSec: per(events),
      counters: agg.get('events.counters'),
      comments: agg.get('events.comment'),
      resets: agg.get('events.reset'),
      beforeAck: agg.get('delivery.beforeAck'),
      likesUnobserved: agg.get('delivery.likeUnobserved'),
      likesMissed: agg.get('delivery.likeMissed'),
      commentDeliveriesMissed: agg.get('delivery.commentMissed'),
    },
    http: { requests: httpRequests, perSec: per(httpRequests), errors: httpErrors },
    latency,
    ...(agg.steadyFromS !== undefined
      ? { steady: { fromS: agg.steadyFromS, latency: steady, generatorCpuPercent: cpuPercent(agg.steadyCpuMs, durationS - agg.steadyFromS) } }
      : {}),
    generator: { cpuMs: Math.round(agg.cpuMs), cpuPercent: cpuPercent(agg.cpuMs, durationS) },
    histograms,
    latencyTimeline,
    timeline: agg.timeline,
    server: input.server,
    verify: input.verify,
    counters: Object.fromEntries([...agg.counters].sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** CPU ms over `seconds` of wall-clock time as percent of one core, to 0.1. */
const cpuPercent = (cpuMs: number, seconds: number) => (seconds > 0 ? Math.round(cpuMs / seconds) / 10 : 0);
