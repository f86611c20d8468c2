/**
 * Finished spans as the OTLP encoder and the batch processor read them (SpanRecord), made by
 * hand: a server span of the feed, one resource and scope, with whatever a test overrides.
 */
import type { SpanRecord } from '../../src/telemetry/otlp-export.ts';

export const resource = { attributes: { 'service.name': 'svc', 'service.version': '1' } };
export const scope = { name: 'tremolo', version: '1' };

export const ctx = (traceId: string, spanId: string, traceFlags = 1, isRemote = false) => ({ traceId, spanId, traceFlags, isRemote });

export function spanRecord(over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    name: 'GET /v1/feed',
    kind: 1,
    spanContext: () => ctx('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'),
    parentSpanContext: undefined,
    startTime: [1_764_000_000, 5],
    endTime: [1_764_000_001, 123_456_789],
    status: { code: 0 },
    attributes: { 'http.route': '/v1/feed', 'http.response.status_code': 200, ratio: 0.5, ok: true, note: 'a "quoted"\nline' },
    links: [],
    events: [],
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
    resource,
    instrumentationScope: scope,
    ...over,
  };
}
