/**
 * Videos, likes and comments over REST: everything the socket API does, for clients
 * without a socket.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Engine, Read } from '../../../actors/engine.ts';
import type { MediaRefs, Video } from '../../../protocol/model.ts';
import { TremoloError } from '../../../protocol/errors.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { likeReply } from '../../replies.ts';
import { userOf } from '../server.ts';
import type { VideoJson } from '../video-json.ts';

export interface VideoRouteDeps {
  engine: Engine;
  /** Turns stored media paths into freshly signed URLs (identity when no media pipeline). */
  presentMedia: (video: Video) => Video;
  /** Lists of videos, serialized from kept per-video JSON. */
  videoJson: VideoJson;
  /** Resolves a finished upload to the media of a published video (the media pipeline). */
  mediaFromUpload?: (uploadId: string, userId: string) => Promise<MediaRefs>;
}

const likeResult = {
  type: 'object',
  required: ['changed', 'counters'],
  properties: { changed: { type: 'boolean' }, counters: schemas.counters, offset: { type: 'integer' } },
} as const;

/** Marks a body read from cache while storage failed, in the body and as a header. */
export function degradedAware<T extends object>(reply: FastifyReply, read: Read<T>): T & { degraded?: true } {
  if (!read.degraded) return read.value;
  reply.header('x-degraded', '1');
  return { ...read.value, degraded: true };
}

export async function videoRoutes(app: FastifyInstance, deps: VideoRouteDeps): Promise<void> {
  const { engine } = deps;
  const auth = [{ bearer: [] }];

  app.post<{ Body: { title: string; description?: string; uploadId?: string; mediaUrl?: string } }>(
    '/v1/videos',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['videos'],
        summary: 'Publish a video from a finished upload, or from media hosted elsewhere',
        security: auth,
        body: {
          type: 'object',
          required: ['title'],
          additionalProperties: false,
          properties: {
            title: { type: 'string' },
            description: { type: 'string' },
            uploadId: { type: 'string', maxLength: 128 },
            mediaUrl: { type: 'string', format: 'uri', pattern: '^https?://', maxLength: 2048 },
          },
        },
        response: { 201: schemas.video },
      },
    },
    async (req, reply) => {
      const userId = userOf(req);
      const { uploadId, mediaUrl } = req.body;
      let media: MediaRefs = {};
      if (mediaUrl !== undefined) media = { external: mediaUrl };
      if (uploadId !== undefined) {
        if (!deps.mediaFromUpload) throw new TremoloError('E_UPLOAD_NOT_FOUND');
        media = await deps.mediaFromUpload(uploadId, userId);
      }
      const video = await engine.createVideo(userId, { title: req.body.title, description: req.body.description, media });
      return reply.code(201).send(deps.presentMedia(video));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/videos/:id',
    { preHandler: app.optionalUser, schema: { tags: ['videos'], params: schemas.idParams, response: { 200: schemas.video } } },
    async (req, reply) => {
      const read = await engine.getVideo(req.params.id, req.principal?.userId);
      return degradedAware(reply, { ...read, value: deps.presentMedia(read.value) });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/videos/:id',
    { preHandler: app.requireUser, schema: { tags: ['videos'], security: auth, params: schemas.idParams } },
    async (req, reply) => {
      await engine.deleteVideo(req.params.id, userOf(req));
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/videos/:id/like',
    { preHandler: app.requireUser, schema: { tags: ['likes'], security: auth, params: schemas.idParams, response: { 200: likeResult } } },
    async (req) => {
      return likeReply(await engine.like(req.params.id, userOf(req)));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/videos/:id/like',
    { preHandler: app.requireUser, schema: { tags: ['likes'], security: auth, params: schemas.idParams, response: { 200: likeResult } } },
    async (req) => {
      return likeReply(await engine.unlike(req.params.id, userOf(req)));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { cursor?: string; limit: number; order: 'newest' | 'oldest' } }>(
    '/v1/videos/:id/comments',
    {
      schema: {
        tags: ['comments'],
        params: schemas.idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...schemas.pageQuery.properties, order: { type: 'string', enum: ['newest', 'oldest'], default: 'newest' } },
        },
        response: { 200: schemas.pageOf(schemas.comment) },
      },
    },
    async (req) => engine.comments(req.params.id, req.query.order, { cursor: req.query.cursor, limit: req.query.limit }),
  );

  app.post<{ Params: { id: string }; Body: { text: string; replyTo?: string; idempotencyKey?: string } }>(
    '/v1/videos/:id/comments',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['comments'],
        summary: 'Add a comment; a retry with the same idempotencyKey (or Idempotency-Key header) returns the original',
        security: auth,
        params: schemas.idParams,
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: schemas.commentFields,
        },
        response: { 201: schemas.comment, 200: schemas.comment },
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
        security: auth,
        params: { type: 'object', required: ['id'], properties: { id: schemas.commentId } },
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
        summary: 'Videos carrying a tag, newest first',
        params: { type: 'object', required: ['tag'], properties: { tag: { type: 'string', minLength: 1, maxLength: 64 } } },
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(schemas.video) },
      },
    },
    async (req, reply) =>
      deps.videoJson.send(reply, await engine.byTag(req.params.tag, { cursor: req.query.cursor, limit: req.query.limit }, req.principal?.userId)),
  );
}
