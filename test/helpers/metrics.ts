/** Reading one series of a registry in tests. */
import type { Registry } from 'prom-client';

/**
 * The value of one series of `family`: `name` as exposed (`<family>_count` of a histogram,
 * or the family itself) with exactly these labels; 0 when it has none yet.
 */
export async function sample(registry: Registry, family: string, labels: Record<string, string> = {}, name: string = family): Promise<number> {
  const metric = registry.getSingleMetric(family);
  if (!metric) throw new Error(`no metric family ${family}`);
  const { values } = await metric.get();
  const want = JSON.stringify(Object.entries(labels).sort());
  const hit = values.find(
    (v) => ((v as { metricName?: string }).metricName ?? family) === name && v.labels.le === undefined && JSON.stringify(Object.entries(v.labels).sort()) === want,
  );
  return hit?.value ?? 0;
}

/** Stage runs of the media pipeline that ended with `outcome` (the stage histogram's count). */
export function stageRuns(registry: Registry, stage: string, outcome: string): Promise<number> {
  return sample(registry, 'tremolo_media_stage_duration_seconds', { stage, outcome }, 'tremolo_media_stage_duration_seconds_count');
}
