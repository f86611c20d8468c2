/**
 * An OTLP/HTTP sink for the tracing benchmarks: a node:http server in the calling process that
 * reads each export, counts its bytes and answers 200 with an empty JSON response.
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
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, bytes: () => bytes, close: () => server.close() };
}
