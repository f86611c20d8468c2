/**
 * Small statistics for benchmarks on a shared machine: run a measurement several times,
 * keep the best, and say how far apart the runs were (other work on the box shows up
 * as spread, not as a silently worse figure).
 */

/** Best (highest, or lowest with `lower`) of the runs, with the spread of all of them. */
export interface Repeated {
  best: number;
  runs: number[];
  /** (max - min) / best, as a percentage. */
  spreadPct: number;
}

export function summarize(runs: number[], lower = false): Repeated {
  if (runs.length === 0) throw new RangeError('no runs');
  const best = lower ? Math.min(...runs) : Math.max(...runs);
  const spreadPct = best === 0 ? 0 : ((Math.max(...runs) - Math.min(...runs)) / best) * 100;
  return { best, runs, spreadPct };
}

/** Percentile (0..100) of an unsorted sample, nearest-rank. */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The middle of an unsorted sample (the mean of the two middle values when it has an even size). */
export function median(sample: readonly number[]): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}

export function mean(sample: readonly number[]): number {
  return sample.reduce((a, b) => a + b, 0) / sample.length;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** "best (runs: a, b, c; spread x%)" */
export function describe(r: Repeated, digits = 0): string {
  return `${fmt(r.best, digits)} (runs: ${r.runs.map((x) => fmt(x, digits)).join(', ')}; spread ${fmt(r.spreadPct, 1)}%)`;
}

/** Process CPU (user + system) in seconds since `since` (a process.cpuUsage() value). */
export function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}
