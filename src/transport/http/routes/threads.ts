/**
 * Comment threads, comment likes, the pinned comment and favorites over REST: what the
 * socket's comment:* and video:favorite events do, for clients without a socket.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { commentLikeReply } from '../../replies.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';
import { toggleRoutes } from './toggle.ts';
import type { VideoJson } from '../video-json.ts';

const commentParams = { type: 'object', required: ['id'], properties: { id: schemas.commentId } } as const;

const commentLikeResult = {
  type: 'object',
  required: ['changed', 'commentId', 'likes', 'offset'],
  properties: {
    changed: { type: 'boolean' },
    commentId: schemas.commentId,
    likes: { type: 'integer', description: "The comment's exact like count after the write" },
    offset: { type: 'integer', description: "Head of the video's event log after the write" },
  },
} as const;

const pinResult = {
  type: 'object',
  required: ['changed', 'pinned', 'offset'],
  properties: {
    changed: { type: 'boolean' },
    pinned: { type: ['string', 'null'], description: 'The pinned comment now, or null' },
    offset: { type: 'integer' },
  },
} as const;

const favoriteResult = {
  type: 'object',
  required: ['changed', 'videoId', 'favorites'],
  properties: { changed: { type: 'boolean' }, videoId: schemas.id, favorites: { type: 'integer', description: "The video's favorite count after the write" } },
} as const;

const settings = {
  type: 'object',
  required: ['favoritesPublic'],
  properties: { favoritesPublic: { type: 'boolean', description: 'Whether others may read your favorites (default false)' } },
} as const;

/** What a write to a video's actor can meet. */
const VIDEO_WRITE = ['E_VIDEO_NOT_FOUND', 'E_BUSY', 'E_STORAGE_UNAVAILABLE'] as const;

export async function threadRoutes(app: FastifyInstance, deps: { engine: Engine; videoJson: VideoJson }): Promise<void> {
  const { engine } = deps;
  const auth = [{ bearer: [] }];
  const optionalAuth: { [scheme: string]: string[] }[] = [{}, { bearer: [] }];

  app.get<{ Params: { id: string }; Querystring: { cursor?: string; limit: number; order: 'newest' | 'top' } }>(
    '/v1/videos/:id/threads',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['comments'],
        operationId: 'listCommentThreads',
        summary: 'Top-level comments with like and reply counts, newest or top first, paged',
        description:
          '`top` ranks by `log2(1 + likes) + createdAtSeconds / COMMENT_TOP_HALF_LIFE_S` (highest first): the order of ' +
          '`(1 + likes) * 2^(-age / halfLife)`. Its first page freezes the ranking, and its cursors page that frozen ranking ' +
          '(no repeats or skips while likes change) for COMMENT_TOP_SNAPSHOT_S; an expired cursor is `E_BAD_CURSOR`. ' +
          'The pinned comment leads the first page (on top of `limit` others, marked `pinned`) and is left out of later pages.',
        security: optionalAuth,
        params: schemas.idParams,
        querystring: schemas.orderedPageQuery(['newest', 'top']),
        response: { 200: schemas.pageOf(schemas.commentView), ...errorResponses('E_VIDEO_NOT_FOUND', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.commentThreads(req.params.id, req.query.order, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId),
  );

  app.get<{ Params: { id: string }; Querystring: { cursor?: string; limit: number } }>(
    '/v1/comments/:id/replies',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['comments'],
        operationId: 'listCommentReplies',
        summary: 'A thread\'s replies, oldest first ("view N replies")',
        description: 'Replies to replies are in the same thread; `replyTo` and `replyToUserId` say whom each answers.',
        security: optionalAuth,
        params: commentParams,
        querystring: schemas.pageQuery,
        response: {
          200: schemas.pageOf(schemas.commentView),
          ...errorResponses('E_COMMENT_NOT_FOUND', 'E_VIDEO_NOT_FOUND', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req) => engine.commentReplies(req.params.id, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId),
  );

  toggleRoutes(app, {
    url: '/v1/comments/:id/like',
    tags: ['likes'],
    params: commentParams,
    response: { 200: commentLikeResult, ...errorResponses('E_COMMENT_NOT_FOUND', ...VIDEO_WRITE) },
    routes: [
      { method: 'POST', operationId: 'likeComment', summary: 'Like a comment (idempotent); its author is notified', write: engine.likeComment.bind(engine) },
      { method: 'DELETE', operationId: 'unlikeComment', summary: 'Take a comment like back (idempotent)', write: engine.unlikeComment.bind(engine) },
    ],
    reply: commentLikeReply,
  });

  app.put<{ Params: { id: string }; Body: { commentId: string } }>(
    '/v1/videos/:id/pin',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['comments'],
        operationId: 'pinComment',
        summary: 'Pin a top-level comment of your video (replacing any pinned one)',
        security: auth,
        params: schemas.idParams,
        body: { type: 'object', required: ['commentId'], additionalProperties: false, properties: { commentId: schemas.commentId } },
        response: { 200: pinResult, ...errorResponses('E_FORBIDDEN', 'E_COMMENT_NOT_FOUND', 'E_PIN_TARGET', ...VIDEO_WRITE) },
      },
    },
    async (req) => {
      const r = await engine.pinComment(req.params.id, req.body.commentId, userOf(req));
      return { changed: r.changed, pinned: r.pinned, offset: r.log.offset };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/videos/:id/pin',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['comments'],
        operationId: 'unpinComment',
        summary: 'Unpin the pinned comment of your video (idempotent)',
        security: auth,
        params: schemas.idParams,
        response: { 200: pinResult, ...errorResponses('E_FORBIDDEN', ...VIDEO_WRITE) },
      },
    },
    async (req) => {
      const r = await engine.pinComment(req.params.id, null, userOf(req));
      return { changed: r.changed, pinned: r.pinned, offset: r.log.offset };
    },
  );

  toggleRoutes(app, {
    url: '/v1/videos/:id/favorite',
    tags: ['favorites'],
    params: schemas.idParams,
    response: { 200: favoriteResult, ...errorResponses(...VIDEO_WRITE) },
    routes: [
      { method: 'POST', operationId: 'favoriteVideo', summary: 'Save a video to your favorites (idempotent); its owner is notified', write: engine.favorite.bind(engine) },
      { method: 'DELETE', operationId: 'unfavoriteVideo', summary: 'Take a video out of your favorites (idempotent)', write: engine.unfavorite.bind(engine) },
    ],
  });

  app.get<{ Params: { id: string } }>(
    '/v1/videos/:id/favorite',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['favorites'],
        operationId: 'getFavoriteState',
        summary: "A video's favorite count, and with a token whether you keep it",
        security: optionalAuth,
        params: schemas.idParams,
        response: {
          200: {
            type: 'object',
            required: ['videoId', 'favorites'],
            properties: { videoId: schemas.id, favorites: { type: 'integer' }, favoritedByMe: { type: 'boolean', description: 'With a token' } },
          },
          ...errorResponses('E_VIDEO_NOT_FOUND', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req) => engine.favoriteState(req.params.id, req.principal?.userId),
  );

  app.get<{ Params: { id: string }; Querystring: { cursor?: string; limit: number } }>(
    '/v1/users/:id/favorites',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['favorites'],
        operationId: 'listFavorites',
        summary: "A user's favorites, latest saved first",
        description:
          'Private by default: only the user reads it (with their token) unless they made it public (`PATCH /v1/me/settings`); ' +
          'anyone else gets 403 `E_FAVORITES_PRIVATE`. Deleted videos drop out, so a page may be short: follow its cursor.',
        security: optionalAuth,
        params: schemas.idParams,
        querystring: schemas.pageQuery,
        response: {
          200: schemas.pageOf(schemas.video),
          ...errorResponses('E_USER_NOT_FOUND', 'E_FAVORITES_PRIVATE', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req, reply) =>
      deps.videoJson.send(reply, await engine.favorites(req.params.id, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId)),
  );

  app.get(
    '/v1/me/settings',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['favorites'],
        operationId: 'getSettings',
        summary: 'Your settings',
        security: auth,
        response: { 200: settings, ...errorResponses('E_USER_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.settings(userOf(req)),
  );

  app.patch<{ Body: { favoritesPublic?: boolean } }>(
    '/v1/me/settings',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['favorites'],
        operationId: 'updateSettings',
        summary: 'Change your settings (fields left out stay as they are)',
        security: auth,
        body: { type: 'object', additionalProperties: false, properties: settings.properties },
        response: { 200: settings, ...errorResponses('E_USER_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.updateSettings(userOf(req), req.body),
  );
}
