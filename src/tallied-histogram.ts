/**
 * A Prometheus histogram for paths that observe on every request. Observing is a lookup of
 * the label set's series, a search of the bucket bounds and a few increments; prom-client's
 * Histogram instead validates and hashes the labels, allocates, and turns bucket bounds into
 * property names on every call (about a microsecond, on every HTTP request). It joins a
 * prom-client Registry like any metric, which reads it at scrape time through `get()`, with
 * the same series, names and exemplars prom-client's Histogram would give.
 */
import type { Metric, Registry } from 'prom-client';

interface Exemplar {
  labelSet: Record<string, string>;
  value: number;
  timestamp: number;
}

interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative), in the order of the bounds. */
  counts: Float64Array;
  sum: number;
  count: number;
  exemplars: (Exemplar | undefined)[];
}

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar?: Exemplar;
}

export interface TalliedHistogramOptions<T extends string> {
  name: string;
  help: string;
  labelNames: readonly T[];
  /** Upper bounds, ascending; `+Inf` is added. */
  buckets: readonly number[];
  registers: Registry[];
  /** Keep each bucket's latest exemplar (shown in the OpenMetrics format). */
  enableExemplars?: boolean;
}

export class TalliedHistogram<T extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly T[];
  private readonly bounds: readonly number[];
  private readonly exemplars: boolean;
  /** By the label values joined with NUL (which no label value written here holds). */
  private readonly series = new Map<string, Series>();

  constructor(opts: TalliedHistogramOptions<T>) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames;
    this.bounds = opts.buckets;
    this.exemplars = opts.enableExemplars ?? false;
    // prom-client types its registry as holding its own metric classes; it reads any metric through name, get() and reset()
    for (const r of opts.registers) r.registerMetric(this as unknown as Metric);
  }

  /**
   * Counts `value` in the series of `values` (the label values, in `labelNames` order). With
   * exemplars on, `exemplar` (e.g. the trace of a sampled span) becomes its bucket's exemplar.
   */
  observe(values: readonly string[], value: number, exemplar?: Record<string, string>): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const key = values.length === 1 ? values[0]! : values.join('\0');
    let s = this.series.get(key);
    if (!s) {
      if (values.length !== this.labelNames.length) throw new RangeError(`${this.name} takes ${this.labelNames.length} label values`);
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => (labels[n] = values[i]!));
      s = { labels, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0, exemplars: [] };
      this.series.set(key, s);
    }
    let b = 0;
    while (b < this.bounds.length && value > this.bounds[b]!) b++;
    s.counts[b]!++;
    s.sum += value;
    s.count++;
    if (this.exemplars && exemplar && Object.keys(exemplar).length > 0) s.exemplars[b] = { labelSet: exemplar, value, timestamp: Date.now() / 1000 };
  }

  /** What prom-client's registry reads: cumulative buckets with `le`, then `_sum` and `_count`, per series. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: Value[]; aggregator: 'sum' }> {
    const values: Value[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      for (let b = 0; b <= this.bounds.length; b++) {
        acc += s.counts[b]!;
        const v: Value = { labels: { le: b < this.bounds.length ? this.bounds[b]! : '+Inf', ...s.labels }, value: acc, metricName: `${this.name}_bucket` };
        const ex = s.exemplars[b];
        if (ex) v.exemplar = ex;
        values.push(v);
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  reset(): void {
    this.series.clear();
  }
}
