/**
 * A real server in the test process whose spans go over OTLP/HTTP to a real receiver here.
 * Roots are sampled by `rules` only (default ratio 0): a test's traces are the ones its
 * requests ask for with a sampled `traceparent`.
 */
import type { Tremolo } from '../../src/main.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import { parseSampleRules } from '../../src/telemetry/sampling.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { eventually } from './eventually.ts';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.ts';
import { startServer } from './server.ts';

export interface TracedServer {
  server: Tremolo;
  tracing: Tracing;
  receiver: OtlpReceiver;
  /** The exported spans of `traceId`, once one named `name` is among them (exports flushed meanwhile). */
  spansOf(traceId: string, name: string): Promise<ReceivedSpan[]>;
  /** Closes the server, then the tracer (exporting what is left), then the receiver. */
  close(): Promise<void>;
}

export async function startTracedServer(service: string, env: Record<string, string> = {}, opts: { rules?: string } = {}): Promise<TracedServer> {
  const receiver = await startOtlpReceiver();
  const tracing = createOtelTracing({
    serviceName: service,
    serviceVersion: 'test',
    defaultRatio: 0,
    rules: parseSampleRules(opts.rules ?? ''),
    exporterUrl: receiver.url,
    env: {},
  });
  const server = await startServer(env, { tracing });
  return {
    server,
    tracing,
    receiver,
    spansOf: async (traceId, name) => {
      await eventually(async () => {
        await tracing.flush();
        return receiver.spans.some((s) => s.traceId === traceId && s.name === name);
      }, `${name} is exported`);
      return receiver.spans.filter((s) => s.traceId === traceId);
    },
    close: async () => {
      await server.close();
      await tracing.shutdown();
      await receiver.close();
    },
  };
}
