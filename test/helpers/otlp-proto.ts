/**
 * Decodes OTLP/HTTP protobuf trace requests (otlp-trace.proto) with protobufjs, into plain
 * objects in OTLP JSON's shape: camelCase fields, every field present (zero when not sent),
 * ids in hex, 64-bit integers as decimal strings, bytes values in base64.
 */
import protobuf from 'protobufjs';

const requestType = protobuf.loadSync(new URL('./otlp-trace.proto', import.meta.url).pathname).lookupType('otlp.ExportTraceServiceRequest');

const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** The request, decoded: throws on bytes that are not one. */
export function decodeTraceRequest(body: Uint8Array): Record<string, unknown> {
  const object = requestType.toObject(requestType.decode(body), { longs: String, bytes: String, defaults: true, arrays: true, oneofs: false });
  return hexIds(object) as Record<string, unknown>;
}

/** Ids from base64 (protobufjs) to hex (as OTLP JSON and the SDK write them). */
function hexIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(hexIds);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, ID_FIELDS.has(k) && typeof v === 'string' ? Buffer.from(v, 'base64').toString('hex') : hexIds(v)]),
  );
}
