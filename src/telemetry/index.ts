/**
 * Builds the Tracing a process uses, from configuration: `noopTracing` when TRACING_ENABLED is
 * off (OpenTelemetry is never imported), else tracing on OpenTelemetry (otel.ts), loaded here on demand.
 */
import { parseSampleRules } from './sampling.ts';
import { noopTracing, type Tracing } from './tracing.ts';

export interface TracingSettings {
  tracingEnabled: boolean;
  traceSampleRatio: number;
  traceSampleRules: string;
}

export async function startTracing(settings: TracingSettings, service: { name: string; version: string; exporterUrl?: string }): Promise<Tracing> {
  if (!settings.tracingEnabled) return noopTracing;
  const { createOtelTracing } = await import('./otel.ts');
  return createOtelTracing({
    serviceName: service.name,
    serviceVersion: service.version,
    defaultRatio: settings.traceSampleRatio,
    rules: parseSampleRules(settings.traceSampleRules),
    ...(service.exporterUrl ? { exporterUrl: service.exporterUrl } : {}),
  });
}

export { noopTracing, type Tracing } from './tracing.ts';
