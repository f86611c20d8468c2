/**
 * The composition root: config -> storage -> actors -> workers -> transport.
 * `startTremolo(config)` builds one engine and serves it; nothing here is a module-level
 * singleton, so tests and benchmarks run several in one process.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Engine, type EngineLimits } from './actors/engine.ts';
import { FanoutSink } from './actors/events.ts';
import type { SocialLimits } from './actors/social.ts';
import { tokenSettings, type Config } from './config.ts';
import { systemClock, type Clock } from './domain/clock.ts';
import { TsidGenerator } from './domain/ids.ts';
import { startMediaPipeline } from './media/pipeline.ts';
import { createExporter, interactionLimits, openSinks, type Exporter } from './export/index.ts';
import { ContentFilter } from './domain/moderation.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { BehaviourLog } from './storage/clickhouse/behaviour-log.ts';
import { LocalInvalidationBus, type InvalidationBus } from './storage/cache/invalidation.ts';
import { guardStore } from './storage/guard.ts';
import { MemoryStore } from './storage/memory/memory-store.ts';
import { MemoryRateLimitStore, type RateLimitStore } from './storage/rate-limits.ts';
import { RedisConnection, type SocketAdapter } from './storage/redis/connection.ts';
import { RedisStore } from './storage/redis/redis-store.ts';
import type { Store } from './storage/store.ts';
import { traceStore } from './storage/traced.ts';
import { HashingQueue } from './transport/auth/hashing-queue.ts';
import { TokenService } from './transport/auth/tokens.ts';
import { startMetricsServer, type MetricsServer } from './transport/http/metrics-server.ts';
import { tusOperations } from './transport/http/openapi/tus-operations.ts';
import { OriginPolicy } from './transport/http/origins.ts';
import { RateLimits } from './transport/http/rate-limits.ts';
import { analyticsRoutes } from './transport/http/routes/analytics.ts';
import { authRoutes } from './transport/http/routes/auth.ts';
import { docsRoutes } from './transport/http/routes/docs.ts';
import { eventRoutes } from './transport/http/routes/events.ts';
import { feedRoutes } from './transport/http/routes/feeds.ts';
import { healthRoutes } from './transport/http/routes/health.ts';
import { socialRoutes } from './transport/http/routes/social.ts';
import { threadRoutes } from './transport/http/routes/threads.ts';
import { userRoutes } from './transport/http/routes/users.ts';
import { messageRoutes } from './transport/http/routes/messages.ts';
import { VideoJson } from './transport/http/video-json.ts';
import { videoRoutes } from './transport/http/routes/videos.ts';
import { webRoutes } from './transport/http/routes/web.ts';
import { createHttpServer } from './transport/http/server.ts';
import { GrpcServer } from './transport/grpc/server.ts';
import { LiveGateway, type CrossProcess } from './transport/live/gateway.ts';
import { sdkDisabled, startTracing } from './telemetry/index.ts';
import type { Tracing } from './telemetry/tracing.ts';
import { mediaPlugin } from './transport/media/plugin.ts';
import { mediaPresenter } from './transport/media/present.ts';
import { MediaSigner } from './transport/media/signing.ts';
import { VERSION } from './version.ts';

export interface StartOptions {
  clock?: Clock;
  /** false silences logs (tests). */
  logger?: boolean;
  /**
   * Runs this server as one of several nodes in one process (tests of multi-node behaviour):
   * the nodes share `store` (the caller's, left open), and `invalidation` and `crossProcess`
   * stand in for Redis pub/sub. Overrides STORAGE.
   */
  node?: { store: Store; invalidation: InvalidationBus; crossProcess: CrossProcess };
  /**
   * The tracing to use (tests and benchmarks that read the spans); the caller shuts it down.
   * Default: built from TRACING_ENABLED and the OTEL_* variables, shut down by close().
   */
  tracing?: Tracing;
}

export interface Tremolo {
  readonly config: Config;
  readonly engine: Engine;
  readonly app: FastifyInstance;
  readonly gateway: LiveGateway;
  readonly metrics: Metrics;
  readonly store: Store;
  /** The in-process behaviour-log exporter, when a sink is configured and EXPORT_IN_PROCESS. */
  readonly exporter?: Exporter;
  readonly tracing: Tracing;
  /** http://host:port (https:// with TLS_CERT) the server listens on. */
  readonly url: string;
  /** The gRPC interface, when GRPC_PORT is set. */
  readonly grpc: GrpcServer | undefined;
  /** Where Prometheus scrapes (`http://METRICS_HOST:port/metrics`), when metrics are enabled. */
  readonly metricsUrl: string | undefined;
  /** Graceful shutdown: stop accepting, finish in-flight work, flush storage. */
  close(): Promise<void>;
}

export async function startTremolo(config: Config, opts: StartOptions = {}): Promise<Tremolo> {
  const clock = opts.clock ?? systemClock;
  // first, so that spans made while anything else starts have somewhere to go. Its export
  // problems go to the HTTP server's logger, made further down (with the tracer in its mixin):
  // a span is exported seconds after it ends, so nothing is told before that logger is there
  const exportLog: { to?: FastifyBaseLogger } = {};
  const tracing =
    opts.tracing ??
    (await startTracing(config, { name: 'tremolo', version: VERSION }, process.env, {
      exportFailed: (err) => exportLog.to?.warn({ err }, 'trace export failed: the spans in it are lost (tremolo_trace_spans_dropped_total)'),
      dropped: (count) => exportLog.to?.warn({ dropped: count }, `${count} spans dropped: OTEL_BSP_MAX_QUEUE_SIZE spans were already waiting for export`),
    }));
  const metrics = createMetrics({ exemplars: tracing.enabled });
  if (tracing.enabled) {
    metrics.counter('tremolo_trace_spans_exported_total', 'Sampled spans in exports the OTLP collector accepted', [], (add) => add({}, tracing.exportCounts().exported));
    metrics.counter('tremolo_trace_spans_dropped_total', 'Sampled spans never exported, by reason: queue_full (OTEL_BSP_MAX_QUEUE_SIZE waiting) or export_failed', ['reason'], (add) => {
      const counts = tracing.exportCounts();
      add({ reason: 'queue_full' }, counts.droppedQueueFull);
      add({ reason: 'export_failed' }, counts.droppedExportFailed);
    });
    metrics.counter('tremolo_trace_exports_failed_total', 'Span exports that failed or timed out', [], (add) => add({}, tracing.exportCounts().failedExports));
  }
  // one id generator per process: actors' ids and the store's interaction event ids never collide
  const ids = new TsidGenerator({ nodeId: config.nodeId, clock });
  const limits = {
    eventLogMax: config.eventLogMax,
    viewDedupS: config.viewDedupS,
    dmLogMax: config.dmLogMax,
    interactions: interactionLimits(config),
    commentTopHalfLifeS: config.commentTopHalfLifeS,
    commentTopSnapshotS: config.commentTopSnapshotS,
    commentTopMax: config.commentTopMax,
  };
  const closers: (() => Promise<unknown>)[] = [];
  // runs last (closers run in reverse): the spans of the shutdown itself are exported too
  if (!opts.tracing) closers.push(() => tracing.shutdown());
  let shuttingDown = false;

  // ---- metrics, first: a taken METRICS_PORT stops start-up before anything else holds resources
  let metricsServer: MetricsServer | undefined;
  if (config.metricsEnabled) {
    const server = await startMetricsServer({
      registry: metrics.registry,
      host: config.metricsHost,
      port: config.metricsPort,
      ...(config.metricsToken ? { token: config.metricsToken } : {}),
    });
    closers.push(() => server.close());
    metricsServer = server;
  }

  // ---- storage
  let store: Store;
  let invalidation: InvalidationBus = new LocalInvalidationBus();
  let redis: RedisConnection | undefined;
  if (opts.node) {
    store = opts.node.store;
    invalidation = opts.node.invalidation;
  } else if (config.storage === 'redis') {
    const connection = await RedisConnection.open({
      url: config.redisUrl,
      ...(config.redisCluster ? { clusterNodes: config.redisCluster.split(',') } : {}),
      prefix: config.redisPrefix,
      timeoutMs: config.storageTimeoutMs,
      autoPipeline: config.redisAutoPipeline,
    });
    closers.push(() => connection.close()); // every Redis connection, closed after what is pushed later (the media pipeline)
    redis = connection;
    const guarded = guardStore(
      RedisStore.on(connection, limits, {
        eventIds: ids,
        tracing,
        replicaWait: { replicas: config.redisWaitReplicas, timeoutMs: config.redisWaitTimeoutMs },
      }),
      { timeoutMs: config.storageTimeoutMs },
    );
    store = guarded.store;
    // for the breaker-open alert (deploy/prometheus)
    metrics.gauge('tremolo_storage_breaker_state', 'Storage circuit breaker: 0 closed, 1 open, 0.5 half-open (probing)', [], (set) =>
      set({}, guarded.breaker.opened ? 1 : guarded.breaker.halfOpen ? 0.5 : 0),
    );
    invalidation = await connection.invalidationBus(`${config.nodeId}-${process.pid}`);
  } else {
    const memory = new MemoryStore(limits, ids);
    // Redis traces its scripts; the memory driver gets a span per Store call (none with tracing off)
    store = tracing.enabled ? traceStore(memory, tracing) : memory;
  }
  // Counters of per-user socket events are shared whenever storage is (they always were);
  // those of the HTTP limits only with RATE_STORE=redis.
  const sharedCounters: RateLimitStore = redis?.rateLimits() ?? new MemoryRateLimitStore();
  const rateCounters = config.rateStore === 'redis' ? sharedCounters : new MemoryRateLimitStore();

  // ---- actors
  const sink = new FanoutSink();
  const tokens = new TokenService(
    tokenSettings(config),
    // a token's subject must be an account (the engine is built below, before any request)
    { userExists: (userId) => engine.userExists(userId), clock },
  );
  const origins = new OriginPolicy({ listed: config.corsOrigins, publicUrl: config.publicUrl });
  const rateLimits = new RateLimits({
    ipPerMin: config.rateIpPerMin,
    userPerMin: config.rateUserPerMin,
    loginPerMin: config.loginRatePerMin,
    signupPerHour: config.signupRatePerHour,
    loginFailures: {
      perHandleIp: config.loginFailsPerHandleIp,
      perHandle: config.loginFailsPerHandle,
      maxDelayS: Math.ceil(config.loginDelayMaxMs / 1000),
    },
    counters: rateCounters,
  });
  const app = createHttpServer({
    config,
    tokens,
    limits: rateLimits,
    metrics,
    origins,
    tracing,
    ...(opts.logger === false ? { logger: false } : {}),
  });
  const log = app.log;
  exportLog.to = log;
  if (config.generatedSecrets.length) {
    const names = config.generatedSecrets.join(' and ');
    const lost = config.generatedSecrets.map((n) => (n === 'JWT_SECRET' ? 'access tokens' : 'signed media URLs')).join(' and ');
    log.warn(
      { generated: config.generatedSecrets },
      `${names} not set: using random values made at start, so ${lost} will not survive a restart; set ${names} (at least 32 random bytes) to keep them`,
    );
  }
  if (config.tracingEnabled && !opts.tracing && sdkDisabled(process.env)) {
    log.warn('TRACING_ENABLED is set, but OTEL_SDK_DISABLED=true turns tracing off: nothing is traced or exported');
  }
  // ---- behaviour log: analytics read ClickHouse; the in-process exporter feeds every sink
  let analytics: BehaviourLog | undefined;
  let exporter: Exporter | undefined;
  if (config.clickhouseUrl) {
    analytics = await BehaviourLog.open({ url: config.clickhouseUrl, database: config.clickhouseDatabase });
    const opened = analytics;
    closers.push(() => opened.close());
  }
  if (config.exportInProcess && (config.clickhouseUrl || config.natsUrl)) {
    const sinks = await openSinks(config);
    exporter = createExporter(config, { log: store.interactions, sinks, clock, metrics: metrics.export, logger: log });
    exporter.start();
    const running = exporter;
    // pushed before the media pipeline's closer, so it runs after it: the last events are exported too
    closers.push(async () => {
      await running.stop();
      await running.drain().catch((err: unknown) => log.warn({ err }, 'shutdown: the last interactions wait in storage for the next exporter'));
      await Promise.allSettled(sinks.map((s) => s.close()));
    });
  }

  const engine = new Engine({
    store,
    sink,
    clock,
    ids,
    metrics,
    invalidation,
    tracing,
    onError: (err, context) => log.error({ err }, context),
    onWarning: (message, fields) => log.warn(fields, message),
    limits: engineLimits(config),
    // the progress interval holds across processes whenever storage is shared
    ...(redis ? { progressWindows: sharedCounters } : {}),
    ...(analytics ? { analytics } : {}),
    social: socialLimits(config),
    ...(config.moderationWordsFile === 'none' ? {} : { contentFilter: ContentFilter.fromFile(config.moderationWordsFile || undefined) }),
  });

  // ---- media: upload files, jobs and their runner (below transport)
  const media = await startMediaPipeline({
    config,
    videos: engine,
    store,
    sink,
    clock,
    metrics: metrics.media,
    tracing,
    onError: (err, context) => log.error({ err }, context),
  });

  // ---- transport
  const signer = new MediaSigner({ secret: config.mediaSecret, ttlS: config.mediaUrlTtlS });
  const presentMedia = mediaPresenter({
    signer,
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    onError: (err, context) => log.error({ err }, context),
  });
  // a tenth of a signed URL's life, at most a minute: a kept URL always has 90 % of it left
  const videoJson = new VideoJson({ present: presentMedia, clock, maxAgeMs: Math.min(60_000, config.mediaUrlTtlS * 100) });
  await docsRoutes(app, {
    version: VERSION,
    publicUrl: config.publicUrl,
    operations: tusOperations({ maxBytes: config.uploadMaxBytes, titleMaxChars: config.titleMaxChars, descriptionMaxChars: config.descriptionMaxChars }),
  });
  await app.register(healthRoutes, {
    version: VERSION,
    checks: { storage: () => store.ping() },
    isShuttingDown: () => shuttingDown,
  });
  const hashing = new HashingQueue({ concurrency: config.passwordHashConcurrency, queueMax: config.passwordHashQueue });
  await app.register(authRoutes, { engine, tokens, limits: rateLimits, hashing, handleMaxChars: config.handleMaxChars });
  await app.register(videoRoutes, {
    engine,
    presentMedia,
    videoJson,
    media: media.jobs,
    limits: { titleMaxChars: config.titleMaxChars, descriptionMaxChars: config.descriptionMaxChars, commentMaxChars: config.commentMaxChars },
  });
  await app.register(mediaPlugin, {
    jobs: media.jobs,
    files: media.files,
    signer,
    delivery: { mode: config.mediaDelivery, presignTtlS: config.mediaPresignTtlS },
    limits: {
      maxBytes: config.uploadMaxBytes,
      quotaBytes: config.uploadQuotaBytes,
      expiryS: config.uploadExpiryS,
      titleMaxChars: config.titleMaxChars,
      descriptionMaxChars: config.descriptionMaxChars,
    },
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    corsOrigins: config.corsOrigins,
    metrics: metrics.media.uploads,
    onError: (err, context) => log.error({ err }, context),
  });
  await app.register(userRoutes, { engine, videoJson });
  await app.register(messageRoutes, { engine, textMaxChars: config.dmTextMaxChars, groupMax: config.dmGroupMax });
  await app.register(socialRoutes, { engine });
  await app.register(threadRoutes, { engine, videoJson });
  await app.register(feedRoutes, { engine, videoJson });
  await app.register(eventRoutes, { engine, tokens });
  await app.register(analyticsRoutes, { engine });
  await app.register(webRoutes, { publicUrl: config.publicUrl });

  const socketAdapter: SocketAdapter | undefined = await redis?.socketAdapter();
  const crossProcess = opts.node?.crossProcess ?? socketAdapter;
  const gateway = new LiveGateway({
    httpServer: app.server,
    engine,
    tokens,
    clock,
    metrics,
    origins,
    log,
    tracing,
    settings: {
      allowAnonymous: config.liveAllowAnonymous,
      parser: config.socketParser,
      maxPayloadBytes: config.socketMaxPayloadBytes,
      socketEventsPerSec: config.socketEventsPerSec,
      maxInflight: config.socketMaxInflight,
      userEventsPerSec: config.userEventsPerSec,
      maxWatches: config.socketMaxWatches,
      maxSocketsPerUser: config.userMaxSockets,
      maxSocketsPerIp: config.socketMaxPerIp,
      trustProxy: config.trustProxy,
      counterIntervalMs: config.liveCounterIntervalMs,
      deliveryBudget: config.liveDeliveryBudget,
      broadcastSlice: config.liveBroadcastSlice,
      coalesceCounters: config.liveCounterCoalesce,
      commentMaxChars: config.commentMaxChars,
      dmTextMaxChars: config.dmTextMaxChars,
      dmGroupMax: config.dmGroupMax,
    },
    userEventCounters: sharedCounters,
    presentVideo: presentMedia,
    ...(crossProcess ? { crossProcess } : {}),
  });
  await socketAdapter?.subscribed();
  sink.add(gateway);
  closers.push(() => media.close()); // pushed last so it runs first: jobs stop before the connections they report through

  const tls = config.tlsCert && config.tlsKey ? { cert: config.tlsCert, key: config.tlsKey } : undefined;
  let grpc: GrpcServer | undefined;
  if (config.grpcPort !== undefined) {
    grpc = new GrpcServer({
      engine,
      tokens,
      limits: rateLimits,
      clock,
      presentMedia,
      interactions: engine.interactions,
      onError: (err, context) => log.error({ err }, context),
      tracing,
      metrics,
      settings: {
        host: config.grpcHost ?? config.host,
        port: config.grpcPort,
        maxMessageBytes: config.bodyLimitBytes,
        maxStreams: config.grpcMaxStreams,
        watchPollMs: config.grpcWatchPollMs,
        ...(tls ? { tls } : {}),
      },
    });
    await grpc.listen();
  }

  try {
    await app.listen({ host: config.host, port: config.port, backlog: config.listenBacklog });
  } catch (err) {
    await grpc?.close(0);
    throw err;
  }
  const address = app.server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let closing: Promise<void> | undefined;
  /** Each step runs even if an earlier one failed or hung (storage may be the reason we stop). */
  const step = async (name: string, fn: () => Promise<unknown>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`took longer than ${config.shutdownTimeoutMs} ms`)), config.shutdownTimeoutMs);
    });
    try {
      await Promise.race([fn(), limit]);
    } catch (err) {
      log.warn({ err }, `shutdown: ${name} failed`);
    } finally {
      clearTimeout(timer);
    }
  };
  const close = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      const httpClosed = app.close(); // stops accepting; in-flight requests finish
      const grpcClosed = grpc?.close(config.shutdownTimeoutMs / 2);
      await step('live gateway', () => gateway.close({ timeoutMs: config.shutdownTimeoutMs / 2 }));
      await step('http server', () => httpClosed);
      if (grpcClosed) await step('grpc server', () => grpcClosed);
      await step('engine', () => engine.shutdown(config.shutdownTimeoutMs));
      for (const c of closers.reverse()) await step('connection', c);
      if (!opts.node) await step('storage', () => store.close());
    })());

  return { config, engine, app, gateway, metrics, store, tracing, url, grpc, metricsUrl: metricsServer?.url, ...(exporter ? { exporter } : {}), close };
}

/** The inbox, blocks, mentions and moderation bounds, from configuration. */
export function socialLimits(config: Config): SocialLimits {
  return {
    inbox: { max: config.inboxMax, windowMs: config.inboxWindowMs, actorsKept: config.inboxActorsKept },
    blocksMax: config.blocksMax,
    reportsOpenMax: config.reportsOpenMax,
    mentionsMax: config.mentionsMax,
    admins: config.adminUsers,
  };
}

/** The engine's limits, from configuration (shared with the benchmarks that build an Engine). */
export function engineLimits(config: Config): EngineLimits {
  return {
    titleMaxChars: config.titleMaxChars,
    descriptionMaxChars: config.descriptionMaxChars,
    commentMaxChars: config.commentMaxChars,
    readStaleMs: config.actorReadStaleMs,
    cache: { max: config.cacheMaxEntries, ttlMs: config.cacheTtlMs, negativeTtlMs: config.cacheNegativeTtlMs },
    actors: {
      idleMs: config.actorIdleMs,
      maxActive: config.actorMaxActive,
      maxBatch: config.actorMaxBatch,
      mailboxLimit: config.actorMailboxLimit,
    },
    feed: { pushMaxFollowers: config.fanoutPushMaxFollowers, inboxMax: config.feedInboxMax, fanoutBatch: config.fanoutBatch, maxQueued: config.fanoutQueueMax, leaseMs: config.fanoutLeaseMs, pollMs: config.fanoutPollMs },
    recommendations: {
      limits: {
        interestsMax: config.forYouInterestsMax,
        interestHalfLifeMs: config.forYouInterestHalfLifeS * 1000,
        seenMax: config.forYouSeenMax,
        seenTtlMs: config.forYouSeenTtlS * 1000,
        engagedMax: config.forYouEngagedMax,
        similarMax: config.forYouSimilarMax,
        stateTtlMs: config.forYouStateTtlS * 1000,
        subjectsMax: config.forYouSubjectsMax,
        freshPoolMax: config.forYouFreshPoolMax,
      },
      perSource: config.forYouSourceSize,
      sourceDeadlineMs: config.forYouSourceDeadlineMs,
      interestSources: config.forYouInterestSources,
      maxPerAuthor: config.forYouMaxPerAuthor,
      maxPerTag: config.forYouMaxPerTag,
      exploreShare: config.forYouExploreShare,
      freshMaxImpressions: config.forYouFreshImpressions,
      seed: config.forYouSeed,
      earlySkips: { skipMs: config.forYouSkipMs, pendingMax: config.forYouSkipPendingMax },
      learnQueueMax: config.forYouLearnQueueMax,
    },
    dm: {
      groupMax: config.dmGroupMax,
      textMaxChars: config.dmTextMaxChars,
      deleteWindowMs: config.dmDeleteWindowS * 1000,
      syncPage: config.dmSyncPage,
      typingIntervalMs: config.dmTypingIntervalMs,
    },
    reports: { progressIntervalMs: config.progressIntervalMs, maxAgeMs: config.eventMaxAgeMs, maxSkewMs: config.eventMaxSkewMs },
  };
}
