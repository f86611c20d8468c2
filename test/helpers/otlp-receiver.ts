/**
 * A real OTLP/HTTP trace receiver in the test process: it accepts what the OpenTelemetry
 * OTLP/HTTP exporter posts to /v1/traces, in protobuf (decoded with protobufjs from OTLP's
 * message definitions) or JSON, and keeps every span, flattened with its service name and
 * attributes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeTraceRequest } from './otlp-proto.ts';

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** W3C tracestate the span carries ('' when none). */
  traceState: string;
  name: string;
  /** OTLP's numbers: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  links: { traceId: string; spanId: string }[];
  droppedLinksCount: number;
  events: { name: string; attributes: Record<string, string | number | boolean> }[];
  /** 2: error. */
  statusCode: number;
  /** Nanoseconds since the epoch. */
  start: bigint;
  end: bigint;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  attributes?: OtlpKeyValue[];
  links?: { traceId: string; spanId: string }[];
  droppedLinksCount?: number;
  events?: { name: string; attributes?: OtlpKeyValue[] }[];
  status?: { code?: number };
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}
interface OtlpRequest {
  resourceSpans?: { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

export interface OtlpReceiver {
  /** http://127.0.0.1:port/v1/traces */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** The Content-Type of each export request taken. */
  readonly contentTypes: string[];
  /** Export requests that were not OTLP (a test fails on any). */
  readonly rejected: string[];
  close(): Promise<void>;
}

const valueOf = (v: OtlpValue): string | number | boolean =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue ?? '';

const attributesOf = (kvs: OtlpKeyValue[] | undefined) => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value)]));

/** The encodings OTLP/HTTP has, by Content-Type. */
const CONTENT_TYPES: Record<string, (body: Buffer) => OtlpRequest> = {
  'application/x-protobuf': (body) => decodeTraceRequest(body) as OtlpRequest,
  'application/json': (body) => JSON.parse(body.toString('utf8')) as OtlpRequest,
};

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const contentType = String(req.headers['content-type']);
      const decode = CONTENT_TYPES[contentType];
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !decode) {
        rejected.push(`${req.method} ${req.url} ${contentType}`);
        res.writeHead(400).end();
        return;
      }
      try {
        const payload = decode(body);
        contentTypes.push(contentType);
        for (const rs of payload.resourceSpans ?? []) {
          const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId || undefined,
                traceState: s.traceState ?? '',
                name: s.name,
                kind: s.kind,
                attributes: attributesOf(s.attributes),
                links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
                droppedLinksCount: s.droppedLinksCount ?? 0,
                events: (s.events ?? []).map((e) => ({ name: e.name, attributes: attributesOf(e.attributes) })),
                statusCode: s.status?.code ?? 0,
                start: BigInt(s.startTimeUnixNano),
                end: BigInt(s.endTimeUnixNano),
              });
            }
          }
        }
        // an empty ExportTraceServiceResponse, in the request's encoding
        res.writeHead(200, { 'content-type': contentType }).end(contentType === 'application/json' ? '{}' : '');
      } catch (err) {
        rejected.push(String(err));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    contentTypes,
    rejected,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A W3C traceparent for a client-side span with random ids, sampled or not. */
export function clientTraceparent(sampled = true): { traceparent: string; traceId: string; spanId: string } {
  const hex = (n: number) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`, traceId, spanId };
}
