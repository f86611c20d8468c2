/**
 * Counters a shard keeps while it drives load, handed to the coordinator as one-second
 * intervals (deltas), so any number of shards, in-process or forked, add up exactly.
 *
 * Counter names are dotted paths, e.g. `conn.ok`, `conn.fail.E_TOO_MANY_CONNECTIONS`,
 * `ack.video:like.ok`, `ack.comment:add.E_RATE_LIMITED`, `events.counters`, `http.ok`.
 */
import { LATENCY_METRICS, LatencyRecorder, type LatencyInterval, type LatencyMetric } from './latency.ts';

export interface StatsInterval {
  counters: Record<string, number>;
  /** Sockets open at the end of the interval (a gauge, not a delta). */
  open: number;
  latency: Partial<Record<LatencyMetric, LatencyInterval>>;
  /**
   * CPU time (user + system, every thread) the shard's process spent since the previous
   * interval, in ms: what the generator itself costs, per user, beside the server's figure.
   */
  cpuMs: number;
}

export class ShardStats {
  private counters = new Map<string, number>();
  private readonly recorders = new Map<LatencyMetric, LatencyRecorder>(LATENCY_METRICS.map((m) => [m, new LatencyRecorder()]));
  /** Sockets currently connected. */
  open = 0;
  private cpuAt = process.cpuUsage();

  count(name: string, n = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + n);
  }

  latency(metric: LatencyMetric, ms: number): void {
    this.recorders.get(metric)?.record(ms);
  }

  /** Everything since the previous drain. */
  drain(): StatsInterval {
    const counters = Object.fromEntries(this.counters);
    this.counters = new Map();
    const latency: Partial<Record<LatencyMetric, LatencyInterval>> = {};
    for (const [metric, rec] of this.recorders) {
      const interval = rec.drain();
      if (interval) latency[metric] = interval;
    }
    const cpu = process.cpuUsage(this.cpuAt);
    this.cpuAt = process.cpuUsage();
    return { counters, open: this.open, latency, cpuMs: (cpu.user + cpu.system) / 1000 };
  }
}
