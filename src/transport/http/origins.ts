/**
 * Which browser origins may use this server (CORS_ORIGINS), for REST (CORS headers and
 * preflights) and for sockets (the handshake's Origin). Tokens travel in headers and the
 * socket's `auth`, never in cookies, so no answer ever allows credentials.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TremoloError } from '../../protocol/errors.ts';

/** Request headers a page of an allowed origin may send: the API's and tus's. */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'idempotency-key',
  'x-request-id',
  'tus-resumable',
  'upload-length',
  'upload-metadata',
  'upload-offset',
  'upload-checksum',
  'x-http-method-override',
].join(', ');
const ALLOWED_METHODS = 'GET, HEAD, POST, PATCH, DELETE, OPTIONS';
/** Response headers such a page may read. */
const EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'x-degraded', 'location', 'tremolo-job-id'].join(', ');
const PREFLIGHT_MAX_AGE_S = '600';

export class OriginPolicy {
  readonly #listed: ReadonlySet<string>;
  readonly #own: string | undefined;

  /**
   * @param listed origins of other sites allowed (CORS_ORIGINS)
   * @param publicUrl this server's public URL (PUBLIC_URL): its origin is this site
   */
  constructor(opts: { listed: readonly string[]; publicUrl?: string | undefined }) {
    this.#listed = new Set(opts.listed);
    this.#own = opts.publicUrl ? new URL(opts.publicUrl).origin : undefined;
  }

  /** The allowed origins of other sites, for Socket.IO's CORS option. */
  get listed(): string[] {
    return [...this.#listed];
  }

  /** An origin of another site that CORS_ORIGINS allows. */
  isListed(origin: string | undefined): origin is string {
    return origin !== undefined && this.#listed.has(origin);
  }

  /**
   * Whether a request may proceed: no Origin (not a browser, or a same-origin GET), this
   * site (the request's own Host, or PUBLIC_URL), or a listed origin.
   */
  admits(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined || this.isListed(origin) || origin === this.#own) return true;
    try {
      return host !== undefined && new URL(origin).host === host.toLowerCase();
    } catch {
      return false; // "null" (sandboxed frames, file:) and garbage
    }
  }

  /**
   * The REST side, for a request that carries an Origin: CORS headers for listed origins,
   * preflights answered here (204, or 403 E_ORIGIN_NOT_ALLOWED for any other origin). Other
   * sites get no CORS headers, so browsers keep their pages from reading answers. Called from
   * the server's one onRequest hook (server.ts) rather than a hook of its own: every request
   * passes there, and each global hook costs fastify a step per request.
   * @returns true when the request was answered here (a preflight): nothing else may run for it
   */
  answer(origin: string, req: FastifyRequest, reply: FastifyReply, sendError: (reply: FastifyReply, e: TremoloError) => FastifyReply): boolean {
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    const listed = this.isListed(origin);
    if (listed) {
      reply.header('access-control-allow-origin', origin);
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    }
    reply.header('vary', 'Origin');
    if (!preflight) return false;
    if (!listed) {
      void sendError(reply, new TremoloError('E_ORIGIN_NOT_ALLOWED', `Origin ${origin} is not allowed (CORS_ORIGINS)`));
      return true;
    }
    void reply
      .code(204)
      .header('access-control-allow-methods', ALLOWED_METHODS)
      .header('access-control-allow-headers', ALLOWED_HEADERS)
      .header('access-control-max-age', PREFLIGHT_MAX_AGE_S)
      .send();
    return true;
  }
}
