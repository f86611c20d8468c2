/**
 * Builds the Tracing a process uses, from configuration: `noopTracing` when TRACING_ENABLED is
 * off or OTEL_SDK_DISABLED is `true` (OpenTelemetry is never imported), else tracing on
 * OpenTelemetry (otel.ts), loaded here on demand.
 */
import type { BatchReporting } from './batch-processor.ts';
import { parseSampleRules } from './sampling.ts';
import { noopTracing, type Tracing } from './tracing.ts';

export interface TracingSettings {
  tracingEnabled: boolean;
  traceSampleRatio: number;
  traceSampleRules: string;
}

/**
 * OTEL_SDK_DISABLED as the specification reads it: `true` in any case turns every signal off;
 * anything else, unset and empty included, leaves it on. The switch operators of any
 * OpenTelemetry service know, so it wins over TRACING_ENABLED.
 */
export function sdkDisabled(env: Readonly<Record<string, string | undefined>>): boolean {
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
}

export async function startTracing(
  settings: TracingSettings,
  service: { name: string; version: string; exporterUrl?: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
  report?: BatchReporting,
): Promise<Tracing> {
  if (!settings.tracingEnabled || sdkDisabled(env)) return noopTracing;
  const { createOtelTracing } = await import('./otel.ts');
  return createOtelTracing({
    serviceName: service.name,
    serviceVersion: service.version,
    defaultRatio: settings.traceSampleRatio,
    rules: parseSampleRules(settings.traceSampleRules),
    env,
    ...(report ? { report } : {}),
    ...(service.exporterUrl ? { exporterUrl: service.exporterUrl } : {}),
  });
}

export type { BatchReporting } from './batch-processor.ts';
export { noopTracing, type Tracing } from './tracing.ts';
