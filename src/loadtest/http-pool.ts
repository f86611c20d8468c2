/**
 * The REST transport of a load process: node:http over one keep-alive agent per protocol,
 * shared by every virtual user of the process, instead of global fetch.
 *
 * The same requests on the wire (HTTP/1.1, kept-alive connections, as fetch makes them), at a
 * fraction of the load process's CPU per request (0.37x): fetch builds WHATWG Request, Headers,
 * AbortSignal and stream objects around each one, and at 3,000 users (~500 requests/s) that was
 * a fifth of the generator's main-thread time (docs/benchmarks.md, capacity, session 30). The
 * generator's cost is what it must keep small, or its latencies measure itself.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { HttpExchange, HttpTransport } from '../client/http-client.ts';

export interface HttpPool {
  readonly transport: HttpTransport;
  /** Closes the pooled connections (a process with open keep-alive sockets does not exit). */
  close(): void;
}

export function createHttpPool(): HttpPool {
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  const transport: HttpTransport = (method, url, headers, body) =>
    new Promise<HttpExchange>((resolve, reject) => {
      const tls = url.protocol === 'https:';
      const send = tls ? httpsRequest : httpRequest;
      const req = send(url, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: tls ? agents.https : agents.http }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, header: (name) => headerOf(res, name), text });
        });
        res.on('error', (err) => reject(networkError(err)));
      });
      req.on('error', (err) => reject(networkError(err)));
      req.end(body);
    });
  return {
    transport,
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function headerOf(res: IncomingMessage, name: string): string | null {
  const v = res.headers[name.toLowerCase()];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

/** A failure below HTTP, as fetch reports it (a TypeError with the cause), so callers treat both alike. */
function networkError(cause: Error): TypeError {
  return new TypeError(`request failed: ${cause.message}`, { cause });
}
