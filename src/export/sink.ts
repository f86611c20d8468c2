/**
 * Where the exporter delivers interaction events. A sink acknowledges a batch by resolving
 * `write`; only then is the batch trimmed from storage. Delivery is at-least-once (a batch is
 * written again after a crash or a failed sibling sink), so every sink deduplicates on the
 * event id: ClickHouse by ReplacingMergeTree over the id, NATS JetStream by `Nats-Msg-Id`.
 */
import type { InteractionEvent } from '../protocol/interactions.ts';

export interface InteractionSink {
  /** For logs and metrics: `clickhouse`, `nats`. */
  readonly name: string;
  /** Resolves once the sink has durably accepted every event of the batch. */
  write(events: readonly InteractionEvent[]): Promise<void>;
  close(): Promise<void>;
}
