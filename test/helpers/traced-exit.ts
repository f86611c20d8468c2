/**
 * A process that exports one span to OTLP_URL, waits for it to be sent, prints the export
 * counts, and then leaves its tracer as it is, never shut down: it must end by itself, so the
 * idle export thread holds nothing open (tracing-exporters.test.ts).
 */
import { createOtelTracing } from '../../src/telemetry/otel.ts';

const tracing = createOtelTracing({ serviceName: 'exit', serviceVersion: 'test', defaultRatio: 1, rules: [], exporterUrl: process.env.OTLP_URL, env: {} });
tracing.start('before exit', { parent: 'root' }).end();
await tracing.flush();
process.stdout.write(JSON.stringify(tracing.exportCounts()));
