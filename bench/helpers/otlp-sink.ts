/**
 * An OTLP/HTTP sink for the tracing benchmarks: a node:http server in the calling process that
 * reads each export, counts its bytes and answers 200 with an empty response in its encoding.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSink {
  /** Its /v1/traces URL. */
  readonly url: string;
  /** Bytes of exports received so far. */
  bytes(): number;
  close(): void;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (bytes += c.length));
    // an empty ExportTraceServiceResponse in the request's encoding, as a collector answers:
    // JSON to an http/protobuf exporter failed its decoding, a thrown error per export
    const json = req.headers['content-type'] === 'application/json';
    req.on('end', () => res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : ''));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, bytes: () => bytes, close: () => server.close() };
}
