/**
 * Feeds over REST: the following feed (hybrid fan-out) and the hot feed.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';
import type { VideoJson } from '../video-json.ts';

export async function feedRoutes(app: FastifyInstance, deps: { engine: Engine; videoJson: VideoJson }): Promise<void> {
  const { engine } = deps;
  type PageQuery = { Querystring: { cursor?: string; limit: number } };
  const videoPage = schemas.pageOf(schemas.video);
  const pageErrors = errorResponses('E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE');

  app.get<PageQuery>(
    '/v1/feed',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['feeds'],
        operationId: 'getFollowingFeed',
        summary: 'Videos of the people you follow, newest first',
        security: [{ bearer: [] }],
        querystring: schemas.pageQuery,
        response: { 200: videoPage, ...pageErrors },
      },
    },
    async (req, reply) => deps.videoJson.send(reply, await engine.followingFeed(userOf(req), { cursor: req.query.cursor, limit: req.query.limit })),
  );

  app.get<PageQuery>(
    '/v1/feed/hot',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['feeds'],
        operationId: 'getHotFeed',
        summary: 'Videos ranked by engagement with time decay (see docs/architecture.md)',
        security: [{}, { bearer: [] }],
        querystring: schemas.pageQuery,
        response: { 200: videoPage, ...pageErrors },
      },
    },
    async (req, reply) => deps.videoJson.send(reply, await engine.hotFeed({ cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId)),
  );
}
