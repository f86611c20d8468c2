/**
 * Requests node's HTTP server refuses before fastify sees them: a malformed request line
 * or header, headers over the size limit, a request that does not arrive in time (all
 * `clientError`, answered on the raw socket), and an `Expect` other than 100-continue.
 * Node's own answers have no body or one of its own; these carry the catalog's
 * `{ error: { code, message } }` like every other answer.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TremoloError, type ErrorBody, type ErrorCode } from '../../protocol/errors.ts';

/** Node's codes for a `clientError` (the parser's, e.g. HPE_HEADER_OVERFLOW) that have a catalog error of their own. */
const CLIENT_ERRORS: ReadonlyMap<string, ErrorCode> = new Map([
  ['ERR_HTTP_REQUEST_TIMEOUT', 'E_REQUEST_TIMEOUT'],
  ['HPE_HEADER_OVERFLOW', 'E_HEADERS_TOO_LARGE'],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 'E_PAYLOAD_TOO_LARGE'],
]);

/** The catalog error for a node `clientError`; any other malformation is E_MALFORMED_REQUEST. */
export function clientErrorOf(err: Error & { code?: string }): TremoloError {
  return new TremoloError(CLIENT_ERRORS.get(err.code ?? '') ?? 'E_MALFORMED_REQUEST');
}

/** The whole raw HTTP/1.1 answer to a `clientError`; the connection closes after it. */
export function clientErrorResponse(err: Error & { code?: string }): string {
  const e = clientErrorOf(err);
  const body = JSON.stringify({ error: e.toJSON() } satisfies ErrorBody);
  return (
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/** fastify's `clientErrorHandler`: answers with a catalog body, then closes the connection. */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // a reset connection has nobody to answer
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // as node does: never write into a response that is already on its way (pipelining)
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    socket.write(clientErrorResponse(err));
    socket.destroySoon(); // once the answer is flushed
  } else {
    socket.destroy();
  }
}

/** The server's `checkExpectation` listener: 417 with a catalog body, instead of node's empty one. */
export function answerUnmetExpectation(_req: IncomingMessage, res: ServerResponse): void {
  const e = new TremoloError('E_EXPECTATION_FAILED');
  const body = JSON.stringify({ error: e.toJSON() } satisfies ErrorBody);
  res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
