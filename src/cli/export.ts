/**
 * `tremolo export`: the behaviour-log exporter as its own process, beside servers started
 * with EXPORT_IN_PROCESS=false. It needs shared storage (STORAGE=redis) and at least one sink
 * (CLICKHOUSE_URL, NATS_URL). Metrics on METRICS_HOST:METRICS_PORT like the server's.
 * SIGTERM/SIGINT: the batch in flight is finished (or left for the next start), then exit 0.
 */
import pino from 'pino';
import type { Config } from '../config.ts';
import { systemClock } from '../domain/clock.ts';
import { TsidGenerator } from '../domain/ids.ts';
import { createExporter, exportConfigured, interactionLimits, openSinks } from '../export/index.ts';
import { createMetrics } from '../metrics.ts';
import { RedisConnection } from '../storage/redis/connection.ts';
import { RedisStore } from '../storage/redis/redis-store.ts';
import { startMetricsServer } from '../transport/http/metrics-server.ts';

export async function runExport(config: Config): Promise<number> {
  const logger = pino({ level: config.logLevel });
  if (config.storage !== 'redis') {
    logger.error({}, 'tremolo export needs STORAGE=redis: the memory store lives inside the server, whose in-process exporter (EXPORT_IN_PROCESS) exports it');
    return 2;
  }
  if (!exportConfigured(config)) {
    logger.error({}, 'tremolo export needs a sink: set CLICKHOUSE_URL and/or NATS_URL');
    return 2;
  }
  const metrics = createMetrics();
  const metricsServer = config.metricsEnabled
    ? await startMetricsServer({ registry: metrics.registry, host: config.metricsHost, port: config.metricsPort, ...(config.metricsToken ? { token: config.metricsToken } : {}) })
    : undefined;
  const connection = await RedisConnection.open({
    url: config.redisUrl,
    ...(config.redisCluster ? { clusterNodes: config.redisCluster.split(',') } : {}),
    prefix: config.redisPrefix,
    timeoutMs: config.storageTimeoutMs,
  });
  const store = RedisStore.on(
    connection,
    { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS, interactions: interactionLimits(config) },
    { eventIds: new TsidGenerator({ nodeId: config.nodeId }) },
  );
  const sinks = await openSinks(config);
  const exporter = createExporter(config, { log: store.interactions, sinks, clock: systemClock, metrics: metrics.export, logger });
  exporter.start();
  logger.info({ sinks: sinks.map((s) => s.name), metrics: metricsServer?.url }, 'tremolo export is running');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  logger.info({ exported: exporter.stats.exported }, 'tremolo export: stopping');
  await exporter.stop();
  await Promise.allSettled(sinks.map((s) => s.close()));
  await connection.close();
  await metricsServer?.close();
  return 0;
}
