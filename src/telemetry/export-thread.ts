/**
 * The worker thread that sends a process's span exports (started by ExportThread, otel.ts, at its
 * first export): the SDK's OTLP/HTTP exporter, with its transport, retries, compression, timeout
 * and OTEL_EXPORTER_OTLP_* configuration, over requests the process has already encoded.
 *
 * Why a thread of its own: sends from the serving thread, about one a second at 1 % sampling,
 * cost the feed a few per cent of its throughput, far more than their own CPU; the same sends
 * from a worker thread did not (docs/benchmarks.md, "Tracing round 7" and "Tracing round 8").
 * A thread has its own heap and its own copy of Node's HTTP client, so nothing the client does
 * touches the code the server's requests run. It costs ~20 MB of RSS.
 *
 * Messages: ExportThreadRequest in (a request's bytes, handed over, not copied), an
 * ExportThreadResult out for each; `shutdown` waits for the sends in flight, then ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { JsonTraceSerializer, ProtobufTraceSerializer, type IExportTraceServiceResponse, type ISerializer } from '@opentelemetry/otlp-transformer';

export interface ExportThreadOptions {
  /** The traces endpoint; unset, OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT or the SDK's default. */
  url: string | undefined;
  protocol: 'http/protobuf' | 'http/json';
  contentType: string;
}

export type ExportThreadRequest = { id: number; body: Uint8Array; count: number } | { shutdown: true };

export interface ExportThreadResult {
  id: number;
  /** The SDK's ExportResultCode: 0 sent, 1 failed. */
  code: number;
  error?: ExportThreadError;
}

/** A failed export's error, as the SDK's OTLPExporterError has it: the collector's HTTP status and answer. */
export interface ExportThreadError {
  name: string;
  message: string;
  code?: number;
  data?: string;
}

/** The most of a collector's answer to a failed export passed on (to the log): an endpoint may answer with anything. */
const ANSWER_MAX_CHARS = 2048;

function errorForParent(error: Error): ExportThreadError {
  const { code, data } = error as Error & { code?: unknown; data?: unknown };
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === 'number' ? { code } : {}),
    ...(typeof data === 'string' ? { data: data.slice(0, ANSWER_MAX_CHARS) } : {}),
  };
}

interface EncodedRequest {
  body: Uint8Array;
  count: number;
}

/** The SDK's OTLP/HTTP trace exporter (what OTLPTraceExporter builds) whose serializer only hands the bytes over. */
class OtlpHttpTraceExporter extends OTLPExporterBase<EncodedRequest> {
  constructor({ url, protocol, contentType }: ExportThreadOptions) {
    const responses = protocol === 'http/json' ? JsonTraceSerializer : ProtobufTraceSerializer;
    const serializer: ISerializer<EncodedRequest, IExportTraceServiceResponse> = {
      serializeRequest: (request) => request.body,
      deserializeResponse: (data) => responses.deserializeResponse(data),
    };
    const options = convertLegacyHttpOptions(url ? { url } : {}, 'TRACES', 'v1/traces', { 'Content-Type': contentType });
    super(createOtlpHttpExportDelegate(options, serializer, 'otlp_http_span_exporter', { name: 'span', countItems: (request) => request.count }, undefined));
  }
}

const port = parentPort;
if (!port) throw new Error('export-thread.ts runs as a worker thread (ExportThread in otel.ts starts it)');
const exporter = new OtlpHttpTraceExporter(workerData as ExportThreadOptions);
port.on('message', (message: ExportThreadRequest) => {
  if ('shutdown' in message) {
    void exporter.shutdown().finally(() => process.exit(0));
    return;
  }
  const { id, body, count } = message;
  exporter.export({ body, count }, ({ code, error }) => {
    const result: ExportThreadResult = { id, code, ...(error ? { error: errorForParent(error) } : {}) };
    port.postMessage(result);
  });
});
