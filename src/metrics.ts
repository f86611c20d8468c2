/**
 * Prometheus metrics. One registry per engine (never prom-client's global one), so
 * several engines in one process (tests, benchmarks) do not collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues, type RegistryContentType } from 'prom-client';
import { TalliedHistogram } from './tallied-histogram.ts';
import type { TraceIds } from './telemetry/tracing.ts';

export interface ActorMetrics {
  batchSize: Histogram<'kind'>;
  turnSeconds: Histogram<'kind'>;
  rejected: Counter<'kind'>;
  evicted: Counter<'kind'>;
}

export const CACHE_RESULTS = ['hit', 'miss', 'stale', 'refresh', 'negative', 'degraded'] as const;
export type CacheLookups = Record<(typeof CACHE_RESULTS)[number], number>;

export interface CacheMetrics {
  /**
   * The lookup tally of the cache called `cache` (shared by caches of one name), read into
   * tremolo_cache_lookups_total at scrape time: a feed page makes twenty lookups, and a plain
   * increment costs nothing next to labelling a prom-client counter twenty times per request.
   */
  lookups(cache: string): CacheLookups;
}

/** Job stages that do work (and are timed); the others are waiting or final. */
export type MediaStage = 'probing' | 'transcoding' | 'tagging';
/**
 * How a stage run ended: `ok`, `failed`, `cancelled`, `timeout` (JOB_TIMEOUT), or
 * `interrupted` (the lease went to another process, or this one shut down: the job goes on elsewhere).
 */
export type StageOutcome = 'ok' | 'failed' | 'cancelled' | 'timeout' | 'interrupted';

/** Upload traffic, recorded by the upload routes. */
export interface UploadMetrics {
  /** Upload body bytes read from clients. */
  receivedBytes: Counter;
  /** Upload requests receiving a body now. */
  active: Gauge;
}

/** What the worker pool holds, read at scrape time. */
export interface PoolLoad {
  queued: number;
  running: number;
}

/** The media pipeline: uploads, jobs and their stages, the worker pool, the tagger's models. */
export interface MediaMetrics {
  uploads: UploadMetrics;
  /** Jobs this process is running, by the stage they are in. */
  jobsRunning: Gauge<'stage'>;
  /**
   * Wall time of each stage run that ended (waiting for a pool thread included), by stage and
   * outcome; its `_count` is the number of stage runs by outcome.
   */
  stageSeconds: Histogram<'stage' | 'outcome'>;
  /** Jobs this process brought to a final stage: `ready`, `failed` or `cancelled`. */
  jobsFinished: Counter<'outcome'>;
  /** Time spent in each tagging model on one video (pre- and post-processing included). */
  taggingModelSeconds: Histogram<'model'>;
  /** The pool whose queue depth and running tasks are reported (one pool per engine; the latest wins). */
  watchPool(read: () => PoolLoad): void;
}

/** The behaviour-log exporter (src/export/exporter.ts). */
export interface ExportMetrics {
  /** Events waiting in storage for export: all streams together, and the fullest stream. */
  lag: Gauge<'scope'>;
  /** Events per delivered batch. */
  batchSize: Histogram;
  /** Time from reading a batch to every sink acknowledging it. */
  batchSeconds: Histogram<'sink'>;
  /** Failed batch writes, by sink. */
  failures: Counter<'sink'>;
  /** Events acknowledged by each sink (a redelivered batch counts again; the sinks deduplicate). */
  rows: Counter<'sink'>;
}

/** The durable fan-out queue (actors/feed.ts), sampled by every process on each poll. */
export interface FanoutMetrics {
  /** Entries waiting or in progress, all processes together (the queue is shared). */
  waiting: Gauge;
  /** Age of the oldest entry (0 when none waits). */
  oldestAgeSeconds: Gauge;
  /** Fan-outs this process took over from a holder whose lease lapsed or who gave it back. */
  resumed: Counter;
}

export interface Metrics {
  registry: Registry;
  export: ExportMetrics;
  /**
   * Whether the request and actor-turn histograms keep exemplars (tracing on): each bucket
   * remembers the trace of its latest sampled observation, shown in the OpenMetrics format.
   * Observe them with `observe`, which knows which call form they take.
   */
  exemplars: boolean;
  /** Observed on every request: a TalliedHistogram (cheap to observe), label values in order method, route, status. */
  httpDuration: TalliedHistogram<'method' | 'route' | 'status'>;
  actors: ActorMetrics;
  cache: CacheMetrics;
  liveEvents: Counter<'event'>;
  liveSockets: Gauge;
  /** gRPC calls by method and status code name (`OK`, `NOT_FOUND`, ...); a stream's lasts its whole life. */
  grpcDuration: Histogram<'method' | 'code'>;
  /** For You skip checks by how they ended (actors/early-skips.ts): recorded, cancelled, engaged, dropped. */
  forYouSkipChecks: Counter<'outcome'>;
  /** For You signals shed because the learning queue was full (actors/learner.ts). */
  forYouSignalsShed: Counter;
  media: MediaMetrics;
  fanout: FanoutMetrics;
  /** Adds a gauge computed at scrape time. */
  gauge(name: string, help: string, labelNames: string[], collect: (set: (labels: Record<string, string>, v: number) => void) => void): void;
  /** Adds a counter read at scrape time from running totals kept elsewhere (`total` the count so far for those labels). */
  counter(name: string, help: string, labelNames: string[], collect: (total: (labels: Record<string, string>, v: number) => void) => void): void;
}

/**
 * Observes `value`; with exemplars on, the trace of a sampled span becomes the bucket's
 * exemplar. (prom-client's exemplar histograms take only the object form of `observe`.)
 */
export function observe<T extends string>(metrics: Pick<Metrics, 'exemplars'>, h: Histogram<T>, labels: LabelValues<T>, value: number, trace?: TraceIds): void {
  if (!metrics.exemplars) h.observe(labels, value);
  else {
    // prom-client types exemplar labels as the metric's own labels; they are any label set
    const exemplarLabels = (trace ? { trace_id: trace.trace_id, span_id: trace.span_id } : {}) as unknown as LabelValues<T>;
    h.observe({ labels, value, exemplarLabels });
  }
}

export function createMetrics(opts: { defaultMetrics?: boolean; exemplars?: boolean } = {}): Metrics {
  const registry = new Registry();
  const exemplars = opts.exemplars ?? false;
  // prom-client only lets histograms with exemplars join an OpenMetrics registry; the registry
  // goes back to the Prometheus format below, and the metrics server picks one per scrape
  if (exemplars) (registry as Registry<RegistryContentType>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  if (opts.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // prom-client names three gauges `*_total`, a suffix reserved for counters, so
    // `promtool check metrics` fails on them. Their per-type siblings (`nodejs_active_handles`,
    // `nodejs_active_requests`, `nodejs_active_resources`) stay; sum() of those is the total.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(name);
    }
  }
  const registers = [registry];
  const cacheTallies = new Map<string, CacheLookups>();
  const cacheLookups = (cache: string): CacheLookups => {
    let tally = cacheTallies.get(cache);
    if (!tally) cacheTallies.set(cache, (tally = Object.fromEntries(CACHE_RESULTS.map((r) => [r, 0])) as CacheLookups));
    return tally;
  };
  new Counter({
    name: 'tremolo_cache_lookups_total',
    help: `Read-cache lookups by result (${CACHE_RESULTS.join(', ')})`,
    labelNames: ['cache', 'result'],
    registers,
    collect() {
      this.reset();
      for (const [cache, tally] of cacheTallies) {
        for (const result of CACHE_RESULTS) if (tally[result] > 0) this.inc({ cache, result }, tally[result]);
      }
    },
  });
  const metrics: Metrics = {
    registry,
    exemplars,
    media: createMediaMetrics(registers),
    export: createExportMetrics(registers),
    fanout: {
      waiting: new Gauge({ name: 'tremolo_fanout_queue_entries', help: 'Posts whose fan-out waits or runs in the durable queue (all processes)', registers }),
      oldestAgeSeconds: new Gauge({ name: 'tremolo_fanout_oldest_age_seconds', help: 'Age of the oldest post whose fan-out is not done (0 when none)', registers }),
      resumed: new Counter({ name: 'tremolo_fanout_resumed_total', help: 'Fan-outs this process took over from another holder, from the page it reached', registers }),
    },
    httpDuration: new TalliedHistogram({
      name: 'tremolo_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
      enableExemplars: exemplars,
    }),
    actors: {
      batchSize: new Histogram({
        name: 'tremolo_actor_batch_size',
        help: 'Messages applied per actor turn (one storage call each)',
        labelNames: ['kind'],
        buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
        registers,
      }),
      turnSeconds: new Histogram({
        name: 'tremolo_actor_storage_call_seconds',
        help: 'Duration of an actor turn, dominated by its single storage call',
        labelNames: ['kind'],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
        registers,
        enableExemplars: exemplars,
      }),
      rejected: new Counter({ name: 'tremolo_actor_busy_total', help: 'Messages refused with E_BUSY (full mailbox)', labelNames: ['kind'], registers }),
      evicted: new Counter({ name: 'tremolo_actor_evictions_total', help: 'Activations evicted above ACTOR_MAX_ACTIVE', labelNames: ['kind'], registers }),
    },
    cache: { lookups: cacheLookups },
    liveEvents: new Counter({ name: 'tremolo_live_events_total', help: 'Events emitted to socket rooms', labelNames: ['event'], registers }),
    grpcDuration: new Histogram({
      name: 'tremolo_grpc_server_duration_seconds',
      help: 'gRPC call duration by method and status code (a stream: its whole life)',
      labelNames: ['method', 'code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600],
      registers,
      enableExemplars: exemplars,
    }),
    liveSockets: new Gauge({ name: 'tremolo_live_sockets', help: 'Connected sockets in this process', registers }),
    forYouSkipChecks: new Counter({
      name: 'tremolo_foryou_skip_checks_total',
      help: 'For You skip checks started by short watch reports, by outcome (recorded, cancelled by a later report, engaged: liked or finished, dropped above FORYOU_SKIP_PENDING_MAX)',
      labelNames: ['outcome'],
      registers,
    }),
    forYouSignalsShed: new Counter({
      name: 'tremolo_foryou_signals_shed_total',
      help: 'For You signals not learned because FORYOU_LEARN_QUEUE_MAX signals were already waiting (the interactions themselves were stored)',
      registers,
    }),
    gauge(name, help, labelNames, collect) {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          collect((labels, v) => this.set(labels, v));
        },
      });
    },
    counter(name, help, labelNames, collect) {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          // prom-client counters only go up by inc: the running total replaces what it had
          this.reset();
          collect((labels, v) => this.inc(labels, v));
        },
      });
    },
  };
  if (exemplars) registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
  return metrics;
}

function createMediaMetrics(registers: Registry[]): MediaMetrics {
  let pool: (() => PoolLoad) | undefined;
  const poolGauge = (name: string, help: string, field: keyof PoolLoad): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(pool?.()[field] ?? 0);
      },
    });
  };
  poolGauge('tremolo_media_pool_queue_depth', 'Media tasks (probe, transcode, tag) waiting for a worker thread', 'queued');
  poolGauge('tremolo_media_pool_running_tasks', 'Media tasks running on a worker thread', 'running');
  return {
    uploads: {
      receivedBytes: new Counter({ name: 'tremolo_upload_received_bytes_total', help: 'Upload body bytes read from clients (tus PATCH and creation-with-upload)', registers }),
      active: new Gauge({ name: 'tremolo_uploads_active', help: 'Upload requests receiving a body now', registers }),
    },
    jobsRunning: new Gauge({ name: 'tremolo_media_jobs_running', help: 'Media jobs this process is running, by stage', labelNames: ['stage'], registers }),
    stageSeconds: new Histogram({
      name: 'tremolo_media_stage_duration_seconds',
      help: 'Wall time of a media job stage run, waiting for a worker thread included, by stage and outcome (ok, failed, cancelled, timeout, interrupted)',
      labelNames: ['stage', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }),
    jobsFinished: new Counter({
      name: 'tremolo_media_jobs_finished_total',
      help: 'Media jobs this process brought to a final stage (ready, failed, cancelled)',
      labelNames: ['outcome'],
      registers,
    }),
    taggingModelSeconds: new Histogram({
      name: 'tremolo_tagging_model_duration_seconds',
      help: 'Time spent in one tagging model (ocr, speech, classifier) for one video, pre- and post-processing included',
      labelNames: ['model'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    watchPool(read) {
      pool = read;
    },
  };
}

function createExportMetrics(registers: Registry[]): ExportMetrics {
  return {
    lag: new Gauge({ name: 'tremolo_export_lag', help: 'Interaction events waiting for export (scope: total, or fullest stream)', labelNames: ['scope'], registers }),
    batchSize: new Histogram({
      name: 'tremolo_export_batch_size',
      help: 'Interaction events per exported batch',
      buckets: [1, 10, 100, 1000, 5000, 10_000, 50_000, 100_000],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'tremolo_export_batch_seconds',
      help: 'Time from reading a batch to its sink acknowledging it',
      labelNames: ['sink'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    failures: new Counter({ name: 'tremolo_export_failures_total', help: 'Failed batch writes to a sink (the batch is retried)', labelNames: ['sink'], registers }),
    rows: new Counter({ name: 'tremolo_export_rows_total', help: 'Interaction events a sink acknowledged (redeliveries count again)', labelNames: ['sink'], registers }),
  };
}
