/**
 * Child process for `npm run bench -- feed --ladder`: a signed-in `GET /v1/feed` answering a
 * constant body of BODY_BYTES, built up from a bare fastify app to tremolo's request path one
 * piece at a time (LADDER_STEP, cumulative), so that the server CPU per request of each step,
 * measured back to back, says what each piece costs. The pieces are tremolo's own (its
 * fastify options, security headers, rate limits, histogram, token service); the route's work
 * is a kept buffer, as a repeat feed read is.
 *
 * Steps: fastify (defaults, the route and its schemas), options (tremolo's fastify options and
 * request decorations), onRequest (an empty global hook), headers (request id and security
 * headers set in it), limit (the hook's checks and the per-address limit), onResponse (an
 * empty global hook), histogram (observed in it), auth (the sign-in preHandler: cached token
 * check and the per-user limit).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { createMetrics } from '../../src/metrics.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { schemas } from '../../src/protocol/schemas.ts';
import { MemoryRateLimitStore } from '../../src/storage/rate-limits.ts';
import { bearerToken, TokenService } from '../../src/transport/auth/tokens.ts';
import { addressKey, trustFunction } from '../../src/transport/client-address.ts';
import { answerClientError } from '../../src/transport/http/client-errors.ts';
import { RateLimits, whenAdmitted } from '../../src/transport/http/rate-limits.ts';
import { SECURITY_HEADERS } from '../../src/transport/http/security-headers.ts';
import { requestValidators } from '../../src/transport/http/validators.ts';
import { serveParent } from './child.ts';

export const LADDER_STEPS = ['fastify', 'options', 'onRequest', 'headers', 'limit', 'onResponse', 'histogram', 'auth'] as const;
const step = LADDER_STEPS.indexOf((process.env.LADDER_STEP ?? 'fastify') as (typeof LADDER_STEPS)[number]);
if (step < 0) throw new RangeError(`LADDER_STEP is one of ${LADDER_STEPS.join(', ')}`);
const has = (name: (typeof LADDER_STEPS)[number]) => step >= LADDER_STEPS.indexOf(name);

const size = Number(process.env.BODY_BYTES ?? '4290');
const body = Buffer.from(`{"items":[${'"x",'.repeat(Math.ceil(size / 4))}`.slice(0, size - 3).replace(/,?$/, '') + ']}');

const app = Fastify(
  has('options')
  ? {
      logger: false,
      genReqId: (req) => {
        const given = req.headers['x-request-id'];
        return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
      },
      requestIdHeader: false,
      trustProxy: trustFunction({ kind: 'off' }),
      return503OnClosing: false,
      http: { requireHostHeader: false },
      forceCloseConnections: 'idle',
      ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
      schemaController: { compilersFactory: { buildValidator: requestValidators() } },
      clientErrorHandler: answerClientError,
    }
  : { logger: false },
);
if (has('options')) {
  app.decorateRequest('principal', undefined);
  app.decorateRequest('span', undefined);
}
const limits = new RateLimits({ ipPerMin: 1e8, userPerMin: 1e8, loginPerMin: 1e5, counters: new MemoryRateLimitStore() });
const tokens = new TokenService({ secret: randomBytes(32).toString('base64url'), issuer: 'tremolo', audience: 'tremolo', ttlS: 3600 });
const { token } = await tokens.issue({ id: '0ABCDEFGHJKMN', handle: 'reader' });

if (has('onRequest')) {
  app.addHook('onRequest', (req, reply, done) => {
    if (!has('headers')) return done();
    reply.header('x-request-id', req.id);
    reply.headers(SECURITY_HEADERS);
    if (!has('limit')) return done();
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) return done(new TremoloError('E_MALFORMED_REQUEST'));
    if (['/healthz', '/readyz'].includes(req.routeOptions.url ?? '')) return done();
    whenAdmitted(limits.admitIp(addressKey(req.ip)), done);
  });
}
if (has('onResponse')) {
  const histogram = createMetrics({ defaultMetrics: false }).httpDuration;
  app.addHook('onResponse', (req, reply, done) => {
    if (!has('histogram')) return done();
    histogram.observe([req.method, req.routeOptions.url ?? 'unknown', String(reply.statusCode)], reply.elapsedTime / 1000);
    done();
  });
}
const requireUser = (req: FastifyRequest): Promise<void> => {
  const given = bearerToken(req.headers.authorization);
  if (!given) return Promise.reject(new TremoloError('E_TOKEN_MISSING'));
  return tokens.verify(given).then((principal) => limits.consumeUser(principal.userId));
};

app.get(
  '/v1/feed',
  {
    ...(has('auth') ? { preHandler: requireUser } : {}),
    schema: { querystring: schemas.pageQuery, response: { 200: schemas.pageOf(schemas.video) } },
  },
  async (_req, reply: FastifyReply) => reply.type('application/json; charset=utf-8').send(body),
);
await app.listen({ host: '127.0.0.1', port: 0 });
serveParent({});
process.send?.({ ready: true, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, pid: process.pid, token, bytes: body.length });
