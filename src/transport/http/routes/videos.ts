/**
 * Videos, likes and comments over REST: everything the socket API does, for clients
 * without a socket.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Engine, Read } from '../../../actors/engine.ts';
import type { MediaRefs, Video, VideoRecord } from '../../../protocol/model.ts';
import { TremoloError } from '../../../protocol/errors.ts';
import { schemas, textField } from '../../../protocol/schemas.ts';
import { likeReply } from '../../replies.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';
import { toggleRoutes } from './toggle.ts';
import type { VideoJson } from '../video-json.ts';
import type { TraceContext } from '../../../telemetry/tracing.ts';

/** The media pipeline's part in publishing and deleting videos. */
export interface VideoMedia {
  /** Publishes the processed media of the caller's finished upload again, as a new video (E_UPLOAD_NOT_FOUND otherwise). */
  publishFromUpload: (userId: string, uploadId: string, input: { title: unknown; description?: unknown }, trace?: TraceContext) => Promise<Video>;
  /** A video was deleted: its media goes once no other video shows it, before this resolves. */
  videoDeleted: (video: VideoRecord) => Promise<void>;
}

export interface VideoRouteDeps {
  engine: Engine;
  /** Turns stored media paths into freshly signed URLs (identity when no media pipeline). */
  presentMedia: (video: Video) => Video;
  /** Lists of videos, serialized from kept per-video JSON. */
  videoJson: VideoJson;
  /** The media pipeline's part: publishing an upload's media again, letting go of a deleted video's media. */
  media?: VideoMedia;
  /** Text limits (TITLE_MAX_CHARS, ...): the request schemas state them. */
  limits: { titleMaxChars: number; descriptionMaxChars: number; commentMaxChars: number };
}

const likeResult = {
  type: 'object',
  required: ['changed', 'counters'],
  properties: { changed: { type: 'boolean' }, counters: schemas.counters, offset: { type: 'integer' } },
} as const;

/** What a write to a video's actor can meet: no such video, a full mailbox, storage down. */
const VIDEO_WRITE = ['E_VIDEO_NOT_FOUND', 'E_BUSY', 'E_STORAGE_UNAVAILABLE'] as const;

const IDEMPOTENCY_KEY = schemas.idempotencyKey;

/** Marks a body read from cache while storage failed, in the body and as a header. */
export function degradedAware<T extends object>(reply: FastifyReply, read: Read<T>): T & { degraded?: true } {
  if (!read.degraded) return read.value;
  reply.header('x-degraded', '1');
  return { ...read.value, degraded: true };
}

export async function videoRoutes(app: FastifyInstance, deps: VideoRouteDeps): Promise<void> {
  const { engine, limits } = deps;
  const auth = [{ bearer: [] }];
  // a token is optional: with one, `likedByMe` is filled in
  const optionalAuth: { [scheme: string]: string[] }[] = [{}, { bearer: [] }];
  const noContent = (description: string) => ({ type: 'null', description });

  app.post<{ Body: { title: string; description?: string; uploadId?: string; mediaUrl?: string } }>(
    '/v1/videos',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['videos'],
        operationId: 'createVideo',
        summary: 'Publish a video from a finished upload, or from media hosted elsewhere',
        description: 'With `uploadId`, the processed media of your upload whose job is ready; with `mediaUrl`, media hosted elsewhere.',
        security: auth,
        body: {
          type: 'object',
          required: ['title'],
          additionalProperties: false,
          properties: {
            title: textField(1, limits.titleMaxChars, 'Title'),
            description: textField(0, limits.descriptionMaxChars, 'Description'),
            uploadId: schemas.uploadId,
            mediaUrl: { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2048 },
          },
        },
        // E_BUSY: too many new posts waiting for fan-out
        response: { 201: schemas.video, ...errorResponses('E_UPLOAD_NOT_FOUND', 'E_CONTENT_REJECTED', 'E_BLOCKED', 'E_BUSY', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) => {
      const userId = userOf(req);
      const { uploadId, mediaUrl, title, description } = req.body;
      let video: Video;
      if (uploadId !== undefined) {
        if (!deps.media) throw new TremoloError('E_UPLOAD_NOT_FOUND');
        video = await deps.media.publishFromUpload(userId, uploadId, { title, description }, req.span?.context);
      } else {
        const media: MediaRefs = mediaUrl !== undefined ? { external: mediaUrl } : {};
        // the post's fan-out continues this request's trace
        video = await engine.createVideo(userId, { title, description, media }, req.span?.context);
      }
      return reply.code(201).send(deps.presentMedia(video));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/videos/:id',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['videos'],
        operationId: 'getVideo',
        summary: 'A video with its counters (and likedByMe with a token)',
        security: optionalAuth,
        params: schemas.idParams,
        response: { 200: schemas.video, ...errorResponses('E_VIDEO_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) => {
      const read = await engine.getVideo(req.params.id, req.principal?.userId);
      return degradedAware(reply, { ...read, value: deps.presentMedia(read.value) });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/videos/:id',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['videos'],
        operationId: 'deleteVideo',
        summary: 'Delete your video with its likes, comments and events',
        security: auth,
        params: schemas.idParams,
        response: { 204: noContent('Deleted'), ...errorResponses('E_VIDEO_NOT_FOUND', 'E_FORBIDDEN', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) => {
      const deleted = await engine.deleteVideo(req.params.id, userOf(req));
      // its media stops being served before we answer (unless another video shows it)
      await deps.media?.videoDeleted(deleted);
      return reply.code(204).send();
    },
  );

  // a like and its undoing: one route shape, one reply (the socket's too)
  toggleRoutes(app, {
    url: '/v1/videos/:id/like',
    tags: ['likes'],
    params: schemas.idParams,
    response: { 200: likeResult, ...errorResponses(...VIDEO_WRITE) },
    routes: [
      { method: 'POST', operationId: 'likeVideo', summary: 'Like a video (idempotent: `changed` says whether it was new)', write: engine.like.bind(engine) },
      { method: 'DELETE', operationId: 'unlikeVideo', summary: 'Take a like back (idempotent)', write: engine.unlike.bind(engine) },
    ],
    reply: likeReply,
  });

  app.get<{ Params: { id: string }; Querystring: { cursor?: string; limit: number; order: 'newest' | 'oldest' } }>(
    '/v1/videos/:id/comments',
    {
      // signed in: comments of users you block are left out
      preHandler: app.optionalUser,
      schema: {
        tags: ['comments'],
        operationId: 'listComments',
        summary: 'Comments of a video, newest or oldest first, paged',
        security: [{}, { bearer: [] }],
        params: schemas.idParams,
        querystring: schemas.orderedPageQuery(['newest', 'oldest']),
        response: { 200: schemas.pageOf(schemas.comment), ...errorResponses('E_VIDEO_NOT_FOUND', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.comments(req.params.id, req.query.order, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId),
  );

  app.post<{ Params: { id: string }; Body: { text: string; replyTo?: string; idempotencyKey?: string } }>(
    '/v1/videos/:id/comments',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['comments'],
        operationId: 'addComment',
        summary: 'Add a comment; a retry with the same idempotencyKey (or Idempotency-Key header) returns the original',
        security: auth,
        params: schemas.idParams,
        headers: {
          type: 'object',
          properties: { 'idempotency-key': { ...IDEMPOTENCY_KEY, description: 'Instead of idempotencyKey in the body' } },
        },
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: {
            text: textField(1, limits.commentMaxChars, 'Comment'),
            replyTo: { ...schemas.commentId, description: 'A comment of the same video' },
            idempotencyKey: IDEMPOTENCY_KEY,
          },
        },
        response: {
          201: { ...schemas.comment, description: 'Added' },
          200: { ...schemas.comment, description: 'A retry: the comment added the first time' },
          ...errorResponses('E_REPLY_TARGET', 'E_CONTENT_REJECTED', 'E_BLOCKED', ...VIDEO_WRITE),
        },
      },
    },
    async (req, reply) => {
      const header = req.headers['idempotency-key'];
      const r = await engine.addComment(req.params.id, userOf(req), {
        text: req.body.text,
        replyTo: req.body.replyTo,
        idempotencyKey: req.body.idempotencyKey ?? (typeof header === 'string' ? header : undefined),
      });
      return reply.code(r.duplicate ? 200 : 201).send(r.comment);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/comments/:id',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['comments'],
        operationId: 'deleteComment',
        summary: 'Delete a comment: yours, or any on your video',
        security: auth,
        params: { type: 'object', required: ['id'], properties: { id: schemas.commentId } },
        response: { 204: noContent('Deleted'), ...errorResponses('E_COMMENT_NOT_FOUND', 'E_FORBIDDEN', ...VIDEO_WRITE) },
      },
    },
    async (req, reply) => {
      await engine.deleteComment(req.params.id, userOf(req));
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { tag: string }; Querystring: { cursor?: string; limit: number } }>(
    '/v1/tags/:tag/videos',
    {
      preHandler: app.optionalUser,
      schema: {
        tags: ['videos'],
        operationId: 'listVideosByTag',
        summary: 'Videos carrying a tag, newest first',
        description:
          'The tag is read as the tagger reads text (`#Travel` finds `travel`); several words find the videos carrying all of them. ' +
          'A page may hold fewer than `limit` videos and still have a `nextCursor`: follow it until it is absent. ' +
          'A tag with no word in it (`#`) is `E_VALIDATION`.',
        security: optionalAuth,
        params: { type: 'object', required: ['tag'], properties: { tag: { type: 'string', minLength: 1, maxLength: 64 } } },
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(schemas.video), ...errorResponses('E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) =>
      deps.videoJson.send(reply, await engine.byTag(req.params.tag, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId)),
  );
}
