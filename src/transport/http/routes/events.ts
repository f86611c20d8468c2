/**
 * Client-reported behaviour over REST: `POST /v1/events`, a batch of watch-progress and
 * impression events, shaped so `navigator.sendBeacon(url, JSON.stringify(body))` can send it:
 * the body may arrive as `text/plain` (what sendBeacon sends for a string), and the access
 * token may ride in the body (`token`), since a beacon cannot set an Authorization header.
 * Without any token, `sessionId` names an anonymous viewer.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import type { Reporter } from '../../../actors/interactions.ts';
import { TremoloError } from '../../../protocol/errors.ts';
import { FEED_KINDS, PROGRESS_MAX_MS, REPORTED_EVENTS_MAX, type ReportedEventBatch } from '../../../protocol/interactions.ts';
import { schemas } from '../../../protocol/schemas.ts';
import type { TokenService } from '../../auth/tokens.ts';
import { errorResponses } from '../openapi/operation-errors.ts';

export interface EventRouteDeps {
  engine: Pick<Engine, 'interactions'>;
  tokens: Pick<TokenService, 'verify'>;
}

const ms = { type: 'integer', minimum: 0, maximum: PROGRESS_MAX_MS } as const;

const reportedEvent = {
  type: 'object',
  required: ['type', 'videoId'],
  description: 'A `watch` (progress: watchedMs, positionMs, durationMs, completed) or an `impression` (feed, position) event.',
  properties: {
    type: { type: 'string', enum: ['watch', 'impression'] },
    videoId: schemas.id,
    at: { type: 'integer', description: 'When the client saw it, ms since the epoch (default: when it arrives); at most EVENT_MAX_AGE old, EVENT_MAX_SKEW ahead' },
    userId: { type: 'string', description: 'Optional; when sent, it must be the caller' },
    watchedMs: ms,
    positionMs: ms,
    durationMs: { ...ms, minimum: 1 },
    completed: { type: 'boolean' },
    feed: { type: 'string', enum: [...FEED_KINDS] },
    position: { type: 'integer', minimum: 0, maximum: 10_000 },
  },
} as const;

export async function eventRoutes(app: FastifyInstance, deps: EventRouteDeps): Promise<void> {
  // sendBeacon sends a string body as text/plain: read it as the JSON it is (this plugin only)
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string) as unknown);
    } catch {
      done(new TremoloError('E_BAD_JSON'), undefined);
    }
  });

  app.post<{ Body: ReportedEventBatch }>(
    '/v1/events',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['events'],
        operationId: 'reportEvents',
        summary: 'Report watch progress and impressions (a navigator.sendBeacon body)',
        description:
          'A batch is checked whole and recorded whole, or refused whole. Signed in by the Authorization header or by `token` in the body; otherwise `sessionId` names an anonymous session. ' +
          'Watch progress of one video is accepted once per PROGRESS_INTERVAL per viewer.',
        security: [{}, { bearer: [] }],
        body: {
          type: 'object',
          required: ['events'],
          additionalProperties: false,
          properties: {
            token: { type: 'string', maxLength: 8192 },
            sessionId: { type: 'string', pattern: '^[A-Za-z0-9_:-]{8,64}$' },
            events: { type: 'array', maxItems: REPORTED_EVENTS_MAX, items: reportedEvent },
          },
        },
        response: {
          202: { type: 'object', required: ['accepted'], properties: { accepted: { type: 'integer' } } },
          ...errorResponses('E_VIDEO_NOT_FOUND', 'E_FORBIDDEN', 'E_EVENT_TIME', 'E_RATE_LIMITED', 'E_EXPORT_BACKLOG', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req, reply) => {
      const { token, sessionId, events } = req.body;
      let userId = req.principal?.userId;
      if (userId === undefined && token !== undefined) userId = (await deps.tokens.verify(token)).userId;
      let reporter: Reporter;
      if (userId !== undefined) reporter = { userId };
      else if (sessionId !== undefined) reporter = { sessionId };
      else throw new TremoloError('E_TOKEN_MISSING', 'Sign in (Authorization header or `token`) or send a `sessionId`');
      const accepted = await deps.engine.interactions.report(reporter, events);
      return reply.code(202).send({ accepted });
    },
  );
}
