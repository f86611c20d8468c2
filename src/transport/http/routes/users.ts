/**
 * Profiles, follows and the follow graph over REST.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';
import type { VideoJson } from '../video-json.ts';
import { degradedAware } from './videos.ts';

export async function userRoutes(app: FastifyInstance, deps: { engine: Engine; videoJson: VideoJson }): Promise<void> {
  const { engine } = deps;
  const auth = [{ bearer: [] }];
  const idPage = schemas.pageOf(schemas.id);
  const listErrors = errorResponses('E_USER_NOT_FOUND', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE');
  // a follow is a write to the follower's actor; the followee must exist
  const followErrors = errorResponses('E_USER_NOT_FOUND', 'E_SELF_FOLLOW', 'E_BUSY', 'E_STORAGE_UNAVAILABLE');
  type PageQuery = { Params: { id: string }; Querystring: { cursor?: string; limit: number } };

  app.get<{ Params: { id: string } }>(
    '/v1/users/:id',
    {
      schema: {
        tags: ['users'],
        operationId: 'getUser',
        summary: 'A profile with exact follower, following and video counts',
        security: [],
        params: schemas.idParams,
        response: { 200: schemas.userProfile, ...errorResponses('E_USER_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) => degradedAware(reply, await engine.profile(req.params.id)),
  );

  app.get<PageQuery>(
    '/v1/users/:id/videos',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['users'],
        operationId: 'listUserVideos',
        summary: "A user's videos, newest first",
        security: [{}, { bearer: [] }],
        params: schemas.idParams,
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(schemas.video), ...listErrors },
      },
    },
    async (req, reply) =>
      deps.videoJson.send(reply, await engine.userVideos(req.params.id, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId)),
  );

  // The follow graph read either way: the same page of ids.
  for (const [list, operationId, summary] of [
    ['followers', 'listFollowers', 'Follower ids, in sign-up order'],
    ['following', 'listFollowing', 'Followed ids, in sign-up order'],
  ] as const) {
    app.get<PageQuery>(
      `/v1/users/:id/${list}`,
      {
        schema: {
          tags: ['users'],
          operationId,
          summary,
          security: [],
          params: schemas.idParams,
          querystring: schemas.pageQuery,
          response: { 200: idPage, ...listErrors },
        },
      },
      async (req) => engine[list](req.params.id, { cursor: req.query.cursor, limit: req.query.limit }),
    );
  }

  const followResult = { type: 'object', required: ['changed'], properties: { changed: { type: 'boolean' } } } as const;

  // Following is a set membership: POST adds it, DELETE removes it, both idempotent.
  for (const [method, operationId, summary, write] of [
    ['POST', 'followUser', 'Follow a user (idempotent: `changed` says whether it was new)', 'follow'],
    ['DELETE', 'unfollowUser', 'Stop following a user (idempotent)', 'unfollow'],
  ] as const) {
    app.route<{ Params: { id: string } }>({
      method,
      url: '/v1/users/:id/follow',
      preHandler: app.requireUser,
      schema: {
        tags: ['users'],
        operationId,
        summary,
        security: auth,
        params: schemas.idParams,
        response: { 200: followResult, ...followErrors },
      },
      handler: async (req) => engine[write](userOf(req), req.params.id),
    });
  }
}
