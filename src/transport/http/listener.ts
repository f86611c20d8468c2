/**
 * The server fastify and Socket.IO share on PORT, by what the deployment asks for:
 * - TLS_CERT/TLS_KEY: HTTPS offering `h2` and `http/1.1` by ALPN on the same port, so browsers
 *   multiplex the API over HTTP/2 while Socket.IO's WebSocket upgrade and long polling, and
 *   every HTTP/1.1 client, keep working;
 * - HTTP2_CLEARTEXT=true: h2c with prior knowledge, for a proxy that terminates TLS and
 *   speaks HTTP/2 to its backends (HTTP/1.1 clients are not served);
 * - otherwise plain HTTP/1.1 (fastify's own server).
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { createSecureServer, createServer, type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';

export interface ListenerOptions {
  tls?: { cert: string; key: string };
  http2Cleartext: boolean;
  /** An HTTP/2 connection idle this long is closed (as fastify's own http2 server does). */
  sessionTimeoutMs: number;
}

/** The kind of listener a configuration asks for. */
export function listenerKind(opts: Pick<ListenerOptions, 'tls' | 'http2Cleartext'>): 'https+h2' | 'h2c' | 'http' {
  if (opts.tls) return 'https+h2';
  return opts.http2Cleartext ? 'h2c' : 'http';
}

/** fastify's request handler, typed for node:http; it takes HTTP/2 compatibility requests alike. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type Http2Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/**
 * fastify's `serverFactory` for HTTP/2 listeners, or undefined for plain HTTP/1.1. The server
 * gets `closeHttp2Sessions()`, which fastify calls on close: each HTTP/2 connection is closed
 * gracefully (its open streams finish, new ones are refused).
 */
export function http2ServerFactory(opts: ListenerOptions): ((handler: Handler) => HttpServer) | undefined {
  const kind = listenerKind(opts);
  if (kind === 'http') return undefined;
  return (httpHandler) => {
    const handler = httpHandler as unknown as Http2Handler;
    const server: Http2Server | Http2SecureServer =
      kind === 'https+h2'
        ? createSecureServer({ ...opts.tls, allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'] }, handler)
        : createServer({}, handler);
    const sessions = new Set<Http2Session>();
    server.on('session', (session: Http2Session) => {
      sessions.add(session);
      session.once('close', () => sessions.delete(session));
      session.setTimeout(opts.sessionTimeoutMs, () => session.close());
    });
    Object.assign(server, {
      closeHttp2Sessions: () => {
        for (const session of sessions) session.close();
      },
    });
    // fastify and Socket.IO use the request/upgrade events the compatibility API shares with node:http
    return server as unknown as HttpServer;
  };
}
