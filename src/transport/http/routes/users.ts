/**
 * Profiles, follows and the follow graph over REST.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { userOf } from '../server.ts';
import type { VideoJson } from '../video-json.ts';
import { degradedAware } from './videos.ts';

export async function userRoutes(app: FastifyInstance, deps: { engine: Engine; videoJson: VideoJson }): Promise<void> {
  const { engine } = deps;
  const auth = [{ bearer: [] }];
  const idPage = schemas.pageOf(schemas.id);
  type PageQuery = { Params: { id: string }; Querystring: { cursor?: string; limit: number } };

  app.get<{ Params: { id: string } }>(
    '/v1/users/:id',
    { schema: { tags: ['users'], params: schemas.idParams, response: { 200: schemas.userProfile } } },
    async (req, reply) => degradedAware(reply, await engine.profile(req.params.id)),
  );

  app.get<PageQuery>(
    '/v1/users/:id/videos',
    {
      preHandler: app.optionalUser,
      schema: { tags: ['users'], params: schemas.idParams, querystring: schemas.pageQuery, response: { 200: schemas.pageOf(schemas.video) } },
    },
    async (req, reply) =>
      deps.videoJson.send(reply, await engine.userVideos(req.params.id, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId)),
  );

  app.get<PageQuery>(
    '/v1/users/:id/followers',
    { schema: { tags: ['users'], summary: 'Follower ids, in sign-up order', params: schemas.idParams, querystring: schemas.pageQuery, response: { 200: idPage } } },
    async (req) => engine.followers(req.params.id, { cursor: req.query.cursor, limit: req.query.limit }),
  );

  app.get<PageQuery>(
    '/v1/users/:id/following',
    { schema: { tags: ['users'], summary: 'Followed ids, in sign-up order', params: schemas.idParams, querystring: schemas.pageQuery, response: { 200: idPage } } },
    async (req) => engine.following(req.params.id, { cursor: req.query.cursor, limit: req.query.limit }),
  );

  const followResult = { type: 'object', required: ['changed'], properties: { changed: { type: 'boolean' } } } as const;

  app.post<{ Params: { id: string } }>(
    '/v1/users/:id/follow',
    { preHandler: app.requireUser, schema: { tags: ['users'], security: auth, params: schemas.idParams, response: { 200: followResult } } },
    async (req) => engine.follow(userOf(req), req.params.id),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/users/:id/follow',
    { preHandler: app.requireUser, schema: { tags: ['users'], security: auth, params: schemas.idParams, response: { 200: followResult } } },
    async (req) => engine.unfollow(userOf(req), req.params.id),
  );
}
