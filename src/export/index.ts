/**
 * The exporter's composition from configuration: the sinks CLICKHOUSE_URL and NATS_URL name,
 * and an Exporter over a store's behaviour log. Used in-process by main.ts
 * (EXPORT_IN_PROCESS) and on its own by `tremolo export` (export-process.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import type { ExportMetrics } from '../metrics.ts';
import { BehaviourLog } from '../storage/clickhouse/behaviour-log.ts';
import type { InteractionLimits } from '../storage/interactions.ts';
import type { InteractionLog } from '../storage/interactions.ts';
import { ClickHouseSink } from './clickhouse-sink.ts';
import { Exporter } from './exporter.ts';
import { NatsSink } from './nats-sink.ts';
import type { InteractionSink } from './sink.ts';

export { Exporter } from './exporter.ts';
export type { InteractionSink } from './sink.ts';

/** True when a sink is configured: the log then holds events for it (hold mode). */
export function exportConfigured(config: Pick<Config, 'clickhouseUrl' | 'natsUrl'>): boolean {
  return config.clickhouseUrl !== undefined || config.natsUrl !== undefined;
}

/** The behaviour log's bound in storage, from configuration. */
export function interactionLimits(config: Pick<Config, 'clickhouseUrl' | 'natsUrl' | 'exportMaxLag' | 'exportEntryEvents'>): InteractionLimits {
  return { max: config.exportMaxLag, hold: exportConfigured(config), entryEvents: config.exportEntryEvents };
}

/** Opens every configured sink (ClickHouse first: its schema is migrated here). */
export async function openSinks(config: Config): Promise<InteractionSink[]> {
  const sinks: InteractionSink[] = [];
  try {
    if (config.clickhouseUrl) sinks.push(new ClickHouseSink(await BehaviourLog.open({ url: config.clickhouseUrl, database: config.clickhouseDatabase })));
    if (config.natsUrl) sinks.push(await NatsSink.open({ url: config.natsUrl, stream: config.natsStream, subject: config.natsSubject }));
  } catch (err) {
    await Promise.allSettled(sinks.map((s) => s.close()));
    throw err;
  }
  return sinks;
}

/** A consumer name for this process in the export group: node, pid and a random part, so no two processes share one. */
export function exportConsumerName(nodeId: number | string): string {
  return `${nodeId}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export function createExporter(
  config: Config,
  deps: { log: InteractionLog; sinks: InteractionSink[]; clock: Clock; metrics?: ExportMetrics; logger: ConstructorParameters<typeof Exporter>[0]['logger'] },
): Exporter {
  return new Exporter({
    log: deps.log,
    sinks: deps.sinks,
    clock: deps.clock,
    consumer: exportConsumerName(config.nodeId),
    claimIdleMs: config.exportClaimIdleMs,
    pipelines: config.exportPipelines,
    batchMax: config.exportBatchMax,
    batchWaitMs: config.exportBatchWaitMs,
    retryMaxMs: config.exportRetryMaxMs,
    maxLag: config.exportMaxLag,
    logger: deps.logger,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
}
