/**
 * The fastify application: logging with request ids, the error mapping every route
 * shares, metrics, and the feature plugins (each registers its own routes).
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import type { Metrics } from '../../metrics.ts';
import { noopTracing, type Attributes, type SpanHandle, type TraceIds, type Tracing } from '../../telemetry/tracing.ts';
import { ERROR_CATALOG, TremoloError, type ErrorBody } from '../../protocol/errors.ts';
import type { Principal, TokenService } from '../auth/tokens.ts';
import { bearerToken } from '../auth/tokens.ts';
import { addressKey, trustFunction } from '../client-address.ts';
import { answerClientError, answerUnmetExpectation } from './client-errors.ts';
import { http2ServerFactory } from './listener.ts';
import type { OriginPolicy } from './origins.ts';
import { whenAdmitted, type RateLimits } from './rate-limits.ts';
import { SECURITY_HEADERS } from './security-headers.ts';
import { issueField, requestValidators } from './validators.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The request's server span (tracing on). */
    span?: SpanHandle;
    /**
     * Its route's URL template, read once in the request hook for the hooks after it
     * (fastify's `routeOptions` builds a new object on every read).
     */
    routeUrl?: string;
  }
}

/** An HTTP/2 connection idle this long is closed (fastify's default for its own http2 servers). */
const HTTP2_SESSION_TIMEOUT_MS = 72_000;

/** Paths not counted against the per-address rate limit: probes must get through. */
export const UNMETERED_PATHS: readonly string[] = ['/healthz', '/readyz'];

export interface HttpDeps {
  config: Config;
  tokens: TokenService;
  limits: RateLimits;
  metrics?: Metrics;
  /** Browser origins allowed: this site and CORS_ORIGINS. */
  origins: OriginPolicy;
  /** Logger options, or false for none (tests). */
  logger?: boolean | { level: string };
  /** A server span per request; log lines carry its ids. Default: off. */
  tracing?: Tracing;
}

export function createHttpServer(deps: HttpDeps): FastifyInstance {
  const { tlsCert, tlsKey } = deps.config;
  const serverFactory = http2ServerFactory({
    ...(tlsCert && tlsKey ? { tls: { cert: tlsCert, key: tlsKey } } : {}),
    http2Cleartext: deps.config.http2Cleartext,
    sessionTimeoutMs: HTTP2_SESSION_TIMEOUT_MS,
  });
  const tracing = deps.tracing ?? noopTracing;
  const app = Fastify({
    logger:
      deps.logger === false
        ? false
        : {
            level: typeof deps.logger === 'object' ? deps.logger.level : deps.config.logLevel,
            redact: ['req.headers.authorization', 'req.body.password', 'password'],
            // every line logged inside a traced request, turn or job names its trace: the active
            // span's, else (after the request's first await) the request's (RequestSpans.start)
            ...(tracing.enabled ? { mixin: (_line: object, _level: number, logger: object) => tracing.ids() ?? requestTrace(logger) ?? {} } : {}),
          },
    bodyLimit: deps.config.bodyLimitBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    // req.ip is the client behind the proxies TRUST_PROXY names (the same rule as sockets)
    trustProxy: trustFunction(deps.config.trustProxy),
    // a closing server and a request without Host answer from the catalog (hook below),
    // not with fastify's and node's own bodies
    return503OnClosing: false,
    http: { requireHostHeader: false },
    // an HTTP/2 server has no idle HTTP/1.1 connections to close: its sessions are closed
    // gracefully instead (listener.ts), and HTTP/1.1 connections it accepted are tracked
    ...(serverFactory ? { serverFactory, forceCloseConnections: true } : { forceCloseConnections: 'idle' as const }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    // bodies are validated without type coercion (validators.ts)
    schemaController: { compilersFactory: { buildValidator: requestValidators() } },
    // requests refused before routing (bad percent-encoding, over-long parameters) and by
    // node's parser (malformed, oversized headers) answer from the catalog too
    frameworkErrors: (err, req, reply) => {
      reply.header('x-request-id', req.id);
      void sendError(reply, toHttpError(err));
    },
    clientErrorHandler: answerClientError,
  });

  // declared on every request up front: set later on some requests only, they would otherwise
  // give requests a second object shape, and fastify's per-request code would see both
  app.decorateRequest('principal', undefined);
  app.decorateRequest('span', undefined);
  app.decorateRequest('routeUrl', undefined);

  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.server.on('checkExpectation', answerUnmetExpectation);

  const { origins, limits } = deps;
  const spans = tracing.enabled ? new RequestSpans(app, tracing, deps.logger !== false) : undefined;
  /**
   * Every global check of a request, in one hook: fastify runs each global hook as a step of
   * every request, so they are not one hook per concern. A callback hook, not an async one (an
   * async hook costs a promise and a microtask more). In order: the request id and security
   * headers (first, so every answer carries them, errors included), CORS (a preflight is
   * answered here), refusals while draining or without Host, the request's span, then the
   * per-address rate limit.
   */
  app.addHook('onRequest', (req, reply, done) => {
    const route = (req.routeUrl = req.routeOptions.url);
    reply.header('x-request-id', req.id);
    reply.headers(SECURITY_HEADERS);
    const origin = req.headers.origin;
    if (origin !== undefined && origins.answer(origin, req, reply, sendError)) return;
    // requests still arriving on open connections while the server drains
    if (closing) return done(new TremoloError('E_SHUTTING_DOWN', undefined, { retryAfter: 1 }));
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      return done(new TremoloError('E_MALFORMED_REQUEST', 'An HTTP/1.1 request needs a Host header'));
    }
    const span = spans?.start(req, reply, route);
    // probes are not metered (by route, so a query string does not make one count); they go
    // on at once, in the request's span
    if (route !== undefined && UNMETERED_PATHS.includes(route)) return span ? tracing.run(span.context, done) : done();
    whenAdmitted(limits.admitIp(addressKey(req.ip)), done);
  });

  const histogram = deps.metrics?.httpDuration;
  const exemplars = deps.metrics?.exemplars === true;
  if (histogram || spans) {
    /** One onResponse hook: the duration histogram (its exemplar read from the span), then the span ends. */
    app.addHook('onResponse', (req, reply, done) => {
      if (histogram) {
        const trace = exemplars ? req.span?.ids() : undefined;
        histogram.observe(
          // routeUrl is unset on a request refused before the request hook ran (a malformed URL)
          [req.method, req.routeUrl ?? req.routeOptions.url ?? 'unknown', String(reply.statusCode)],
          reply.elapsedTime / 1000,
          trace ? { trace_id: trace.trace_id, span_id: trace.span_id } : undefined,
        );
      }
      spans?.finish(req, reply.statusCode);
      done();
    });
  }

  app.setNotFoundHandler((req, reply) => {
    void sendError(reply, new TremoloError('E_ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`));
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toHttpError(err);
    logRequestError(req, e, err);
    return sendError(reply, e);
  });

  /** The signed-in user counted against their limit, then the request goes on (or is refused). */
  const admit = (req: FastifyRequest, principal: Principal, done: HookDone): void => {
    req.principal = principal;
    whenAdmitted(deps.limits.admitUser(principal.userId), done);
  };
  /**
   * A preHandler that authenticates when a token is present; `required` makes it mandatory. A
   * callback hook, not a promise: on nearly every request the token was verified before and the
   * user's count is kept in this process, and then the request goes on at once, with no promise
   * or microtask.
   */
  const authenticate =
    (required: boolean): SignInHook =>
    (req, _reply, done) => {
      const token = bearerToken(req.headers.authorization);
      if (!token) return done(required ? new TremoloError('E_TOKEN_MISSING') : undefined);
      const known = deps.tokens.known(token);
      if (known) return admit(req, known, done);
      deps.tokens.verify(token).then((principal) => admit(req, principal, done), done);
    };
  app.decorate('requireUser', authenticate(true));
  app.decorate('optionalUser', authenticate(false));

  return app;
}

type HookDone = (err?: Error) => void;
/** A route's sign-in step (its preHandler). */
export type SignInHook = (req: FastifyRequest, reply: FastifyReply, done: HookDone) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: the request must carry a valid token (E_TOKEN_MISSING otherwise). */
    requireUser: SignInHook;
    /** preHandler: a token, when present, must be valid. */
    optionalUser: SignInHook;
  }
}

/** The signed-in user of a route that ran `requireUser`. */
export function userOf(req: FastifyRequest): string {
  if (!req.principal) throw new TremoloError('E_TOKEN_MISSING');
  return req.principal.userId;
}

/** 5xx codes that say the server is briefly unable (reported where that is detected), not broken. */
const UNAVAILABLE = new Set(['E_STORAGE_UNAVAILABLE', 'E_BUSY', 'E_SHUTTING_DOWN']);

/**
 * Logs a failed request at the level it deserves: a server fault is an error; what the
 * client caused (4xx, and 501 for what this deployment does not offer) is routine and
 * stays at debug, so no client can fill the error log.
 */
export function logRequestError(req: FastifyRequest, e: TremoloError, err: unknown): void {
  if (e.status >= 500 && e.status !== 501 && !UNAVAILABLE.has(e.code)) req.log.error({ err }, 'request failed');
  else req.log.debug({ code: e.code, status: e.status }, 'request refused');
}

export function sendError(reply: FastifyReply, e: TremoloError): FastifyReply {
  if (e.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(e.retryAfter))));
  const body: ErrorBody = { error: e.toJSON() };
  return reply.code(e.status).type('application/json').send(body);
}

/** Maps fastify's own errors onto the catalog; anything unknown becomes E_INTERNAL. */
export function toHttpError(err: FastifyError | Error): TremoloError {
  if (err instanceof TremoloError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const path = issueField(first);
    const field = [fe.validationContext === 'body' ? '' : fe.validationContext, path].filter(Boolean).join('.');
    return new TremoloError('E_VALIDATION', `${field || fe.validationContext || 'request'} ${first?.message ?? 'is invalid'}`, {
      details: { field: field || fe.validationContext },
    });
  }
  switch (fe.code) {
    case 'FST_ERR_BAD_URL':
      return new TremoloError('E_MALFORMED_REQUEST', 'The URL is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new TremoloError('E_URI_TOO_LONG', 'A path parameter is longer than allowed');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TremoloError('E_BAD_JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TremoloError('E_PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new TremoloError('E_UNSUPPORTED_MEDIA_TYPE');
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) return new TremoloError('E_BAD_JSON');
  if (fe.statusCode === 413) return new TremoloError('E_PAYLOAD_TOO_LARGE');
  if (fe.statusCode === 414) return new TremoloError('E_URI_TOO_LONG');
  if (fe.statusCode === 431) return new TremoloError('E_HEADERS_TOO_LARGE');
  if (fe.statusCode === 503) return new TremoloError('E_SHUTTING_DOWN');
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return new TremoloError('E_VALIDATION', ERROR_CATALOG.E_VALIDATION.message);
  return new TremoloError('E_INTERNAL', undefined, { cause: err });
}

/**
 * A server span per request, named `METHOD /route/:template` (the semantic conventions' name),
 * continuing the caller's `traceparent`. The hooks and the route's handler start in it (the
 * active context is a synchronous scope, telemetry/tracing.ts, so each is entered in turn: the
 * body is read, and a preHandler may await, in between); what a handler does after its first
 * await takes `req.span` explicitly. A sampled request's log lines carry its ids (its logger is
 * bound to them), however far from the hooks they are written. Recorded: method, route, status
 * and the signed-in user, never the query string (signed media URLs) or headers.
 *
 * `start` and `finish` are called from the server's own onRequest and onResponse hooks. What
 * else must run in the span is wrapped per route when the route is added (its preHandlers and
 * its handler), not added as global hooks: a global hook is a step of every request, traced
 * or not, and a route without preHandlers then pays nothing for them.
 */
class RequestSpans {
  /**
   * Each route's and method's span name and the attributes its sampling reads, made once per
   * route rather than once per request (shared: the SDK copies the attributes it is given).
   */
  readonly #routes = new Map<string, Map<string, { name: string; attributes: Attributes }>>();

  constructor(
    app: FastifyInstance,
    private readonly tracing: Tracing,
    /** Whether requests have loggers of their own (fastify's per-request child), to bind the trace to. */
    private readonly logging: boolean,
  ) {
    app.addHook('onRoute', (route) => {
      // a route-level preHandler (sign-in) starts in the span: what it does before its first
      // await (a token check, a store call) joins the request's trace
      const pre = route.preHandler;
      if (pre) route.preHandler = Array.isArray(pre) ? pre.map((h) => inSpan(tracing, h)) : inSpan(tracing, pre);
      // the handler itself: a preHandler may have awaited since the hooks above
      const handler = route.handler;
      route.handler = function tracedHandler(this: FastifyInstance, req, reply) {
        return req.span ? tracing.run(req.span.context, () => handler.call(this, req, reply)) : handler.call(this, req, reply);
      };
    });
  }

  start(req: FastifyRequest, reply: FastifyReply, route: string | undefined): SpanHandle {
    const { name, attributes } = this.#route(req.method, route);
    const span = this.tracing.start(name, { kind: 'server', parent: this.tracing.extract(req.headers.traceparent, req.headers.tracestate) ?? 'root', attributes });
    req.span = span;
    if (span.recording) {
      if (this.logging) bindTrace(req.log, span.ids());
      // a request the client gave up on gets no onResponse: its span ends when the request
      // closes aborted. A listener for sampled requests only (fastify's onRequestAbort hook
      // would add one to every request), and `on`, not `once`: the request object dies with
      // the request, and removing a once-listener when every request closes cost more than the
      // span (1.7 µs per request at 100 % in a profile of the feed); `finish` runs at most once
      const raw = req.raw;
      raw.on('close', () => {
        if (raw.aborted) this.finish(req, undefined);
      });
    }
    return span;
  }

  finish(req: FastifyRequest, status: number | undefined): void {
    const span = req.span;
    if (!span) return;
    req.span = undefined;
    // an unsampled request's span records nothing: no attributes or error are made for it
    if (span.recording) {
      // with what the sampler does not read (the scheme), in one call: sampled requests only
      span.set({ 'url.scheme': req.protocol, 'http.response.status_code': status, 'enduser.id': req.principal?.userId });
      if (status === undefined || status >= 500) span.fail(new Error(status === undefined ? 'aborted' : `status ${status}`));
    }
    span.end();
  }

  #route(method: string, route: string | undefined): { name: string; attributes: Attributes } {
    // a request refused before routing has no route: it is named by its method alone
    const key = route ?? '';
    let byMethod = this.#routes.get(key);
    if (!byMethod) this.#routes.set(key, (byMethod = new Map()));
    let known = byMethod.get(method);
    if (!known) {
      known = { name: route === undefined ? method : `${method} ${route}`, attributes: Object.freeze({ 'http.request.method': method, 'http.route': route }) };
      byMethod.set(method, known);
    }
    return known;
  }
}

/** Where a sampled request's ids are kept on its logger, for the logger's mixin. */
const REQUEST_TRACE = Symbol('tremolo.requestTrace');
type TracedLogger = { [REQUEST_TRACE]?: TraceIds };

/**
 * Binds a sampled request's ids to its logger (fastify's child for that request): the lines it
 * writes after the request's first await, when no span is active, still name the trace. Kept
 * on the logger rather than as pino bindings: a pino child of that child cost 3-5.5 µs per
 * sampled request (a loop on this box; ~1 µs of it V8 turning the request's logger into a
 * prototype), a property on it ~0.1 µs.
 */
function bindTrace(log: object, ids: TraceIds | undefined): void {
  if (ids) (log as TracedLogger)[REQUEST_TRACE] = ids;
}

/** The ids bound to `logger` or a logger it was made from, as a new object (pino merges into what a mixin returns). */
function requestTrace(logger: object): TraceIds | undefined {
  const ids = (logger as TracedLogger)[REQUEST_TRACE];
  return ids && { trace_id: ids.trace_id, span_id: ids.span_id };
}

type PreHandler = (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void | Promise<unknown>;

/** `hook` run in its request's span (when it has one), whether it calls `done` or returns a promise. */
function inSpan(tracing: Tracing, hook: PreHandler): PreHandler {
  return function preHandlerInSpan(this: FastifyInstance, req, reply, done) {
    return req.span ? tracing.run(req.span.context, () => hook.call(this, req, reply, done)) : hook.call(this, req, reply, done);
  };
}
