/**
 * Feeds over REST: the following feed (hybrid fan-out), the hot feed and the For You feed.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { TremoloError } from '../../../protocol/errors.ts';
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
    // a repeat read of a kept page is answered synchronously (no promise, no microtask); fastify
    // wants undefined back from a handler that has sent its answer
    (req, reply) => {
      const userId = userOf(req);
      const page = { cursor: req.query.cursor, limit: req.query.limit };
      const kept = engine.keptFollowingFeed(userId, page);
      if (kept) {
        deps.videoJson.send(reply, kept);
        return undefined;
      }
      return engine.followingFeed(userId, page).then((read) => deps.videoJson.send(reply, read));
    },
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

  app.get<{ Querystring: { cursor?: string; limit: number; session?: string } }>(
    '/v1/feed/foryou',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['feeds'],
        operationId: 'getForYouFeed',
        summary: 'Videos ranked for you, learning from your likes and watches; each says why it is shown (see README)',
        description:
          'Signed in, the feed is the user\'s; anonymous, pass `session` (an id the client makes once and keeps) and it is that session\'s. ' +
          'A video once shown is not shown again to the same user or session.',
        security: [{}, { bearer: [] }],
        querystring: forYouQuery,
        response: { 200: schemas.pageOf(forYouItem), ...errorResponses('E_BAD_CURSOR', 'E_VALIDATION', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) => {
      const userId = req.principal?.userId;
      const { session } = req.query;
      if (userId === undefined && session === undefined) {
        throw new TremoloError('E_VALIDATION', 'Sign in, or pass session (an id the client keeps) for an anonymous For You feed', { details: { field: 'session' } });
      }
      const viewer = userId !== undefined ? { userId } : { sessionId: session! };
      return deps.videoJson.send(reply, await engine.forYouFeed(viewer, { cursor: req.query.cursor, limit: req.query.limit }));
    },
  );
}

const forYouQuery = {
  type: 'object',
  properties: {
    ...schemas.pageQuery.properties,
    session: {
      type: 'string',
      pattern: '^[A-Za-z0-9_-]{16,64}$',
      description: 'Anonymous viewers: an id the client makes once (16 to 64 letters, digits, "_" or "-") and keeps; ignored when signed in',
    },
  },
  additionalProperties: false,
} as const;

const forYouItem = {
  ...schemas.video,
  required: [...schemas.video.required, 'reason'],
  properties: {
    ...schemas.video.properties,
    reason: {
      type: 'string',
      description: 'Why it is shown: `following`, `interest:<tag>`, `interest:@<authorId>`, `similar`, `trending` or `fresh`',
      examples: ['interest:cats'],
    },
  },
} as const;
