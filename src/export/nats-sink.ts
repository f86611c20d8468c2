/**
 * The NATS JetStream sink, for real-time consumers: each event is published to
 * `<subject>.<type>` with `Nats-Msg-Id` = its id, so a batch published twice is stored once
 * (within the stream's duplicate window, which is longer than any retry of the exporter).
 */
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { InteractionEvent } from '../protocol/interactions.ts';
import type { InteractionSink } from './sink.ts';

export interface NatsSinkOptions {
  url: string;
  stream: string;
  subject: string;
  /** How long JetStream remembers message ids. Default 10 minutes. */
  duplicateWindowMs?: number;
}

export class NatsSink implements InteractionSink {
  readonly name = 'nats';
  private readonly encoder = new TextEncoder();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly subject: string,
  ) {}

  /** Connects and creates the stream when it is missing. */
  static async open(opts: NatsSinkOptions): Promise<NatsSink> {
    const nc = await connect({ servers: opts.url, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    try {
      const jsm = await jetstreamManager(nc);
      const config = { name: opts.stream, subjects: [`${opts.subject}.>`], duplicate_window: nanos(opts.duplicateWindowMs ?? 600_000) };
      try {
        await jsm.streams.info(opts.stream);
      } catch {
        await jsm.streams.add(config);
      }
      return new NatsSink(nc, jetstream(nc), opts.subject);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  async write(events: readonly InteractionEvent[]): Promise<void> {
    // published together, acknowledged each: the batch counts once every ack is in
    await Promise.all(events.map((e) => this.js.publish(`${this.subject}.${e.type}`, this.encoder.encode(JSON.stringify(e)), { msgID: e.id, timeout: 10_000 })));
  }

  async close(): Promise<void> {
    await this.nc.drain();
  }
}
