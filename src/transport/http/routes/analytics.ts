/** Creator analytics: `GET /v1/videos/:id/analytics`, for the video's owner. */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import type { AnalyticsQuery } from '../../../protocol/model.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';

const count = { type: 'integer' } as const;
const share = { type: 'number' } as const;
const figures = {
  views: count,
  uniqueViewers: count,
  avgWatchMs: count,
  completionRate: share,
  likes: count,
  likeRate: share,
  comments: count,
  followersGained: count,
} as const;

/** An ISO 8601 date-time or ms since the epoch (the engine refuses impossible dates, such as a 13th month). */
const TIME = { type: 'string', maxLength: 40, pattern: '^(\\d{1,15}|\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2}))?)$' } as const;

export async function analyticsRoutes(app: FastifyInstance, deps: { engine: Pick<Engine, 'videoAnalytics'> }): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: AnalyticsQuery }>(
    '/v1/videos/:id/analytics',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['videos'],
        operationId: 'getVideoAnalytics',
        summary: 'Your video\'s views, unique viewers, watch time, completion, like rate, comments and followers gained, per hour or day',
        description:
          'From the behaviour log (`source: "clickhouse"`) when CLICKHOUSE_URL is set; otherwise the lifetime counters storage holds (`source: "counters"`, totals only, no buckets). ' +
          'Buckets are UTC hours or days over [from, to); default: the last 7 days by day.',
        security: [{ bearer: [] }],
        params: schemas.idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { ...TIME, description: 'ISO 8601 time (UTC or with an offset) or ms since the epoch' },
            to: { ...TIME, description: 'ISO 8601 time (UTC or with an offset) or ms since the epoch; exclusive' },
            bucket: { type: 'string', enum: ['hour', 'day'] },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['videoId', 'source', 'bucket', 'from', 'to', 'totals', 'buckets'],
            properties: {
              videoId: { type: 'string' },
              source: { type: 'string', enum: ['clickhouse', 'counters'] },
              bucket: { type: 'string', enum: ['hour', 'day'] },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              totals: { type: 'object', properties: figures },
              buckets: {
                type: 'array',
                items: { type: 'object', required: ['start', ...Object.keys(figures)], properties: { start: { type: 'string', format: 'date-time' }, ...figures } },
              },
            },
          },
          ...errorResponses('E_VIDEO_NOT_FOUND', 'E_FORBIDDEN', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req) => deps.engine.videoAnalytics(req.params.id, userOf(req), req.query),
  );
}
