/**
 * The notifications inbox, blocks, reports and operators' moderation over REST.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import type { Actor } from '../../../actors/social.ts';
import { TremoloError } from '../../../protocol/errors.ts';
import { schemas } from '../../../protocol/schemas.ts';
import type { ModerationTarget } from '../../../protocol/social.ts';
import { changed, inboxPage, reason, report, reportResult, target, unread } from '../../../protocol/social-schemas.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';

export async function socialRoutes(app: FastifyInstance, deps: { engine: Engine }): Promise<void> {
  const { engine } = deps;
  const auth = [{ bearer: [] }];
  type PageQuery = { Querystring: { cursor?: string; limit: number } };
  const actorOf = (req: FastifyRequest): Actor => ({ userId: userOf(req), ...(req.principal?.roles ? { roles: req.principal.roles } : {}) });

  // ------------------------------------------------------------ inbox

  app.get<PageQuery>(
    '/v1/me/notifications',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['notifications'],
        operationId: 'listNotifications',
        summary: 'Your notifications inbox, most recently updated first, with the unread count',
        description:
          'One entry per (type, target) within INBOX_WINDOW: "ana and 14 others liked your video" is `actorIds` (latest first) and `count`. An entry updated while you page moves ahead of your cursor (you see it on the next first page).',
        security: auth,
        querystring: schemas.pageQuery,
        response: { 200: inboxPage, ...errorResponses('E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.social.inbox(userOf(req), { cursor: req.query.cursor, limit: req.query.limit }),
  );

  app.get(
    '/v1/me/notifications/unread',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['notifications'],
        operationId: 'getUnreadCount',
        summary: 'How many inbox entries you have not read',
        security: auth,
        response: { 200: unread, ...errorResponses('E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => ({ unread: await engine.social.unread(userOf(req)) }),
  );

  app.post<{ Body: { entryId?: string } | undefined }>(
    '/v1/me/notifications/read',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['notifications'],
        operationId: 'markNotificationsRead',
        summary: 'Mark one entry read (`entryId`) or all of them (no body, or no `entryId`)',
        security: auth,
        body: { type: 'object', additionalProperties: false, properties: { entryId: schemas.id } },
        response: { 200: unread, ...errorResponses('E_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.social.markRead(userOf(req), req.body?.entryId),
  );

  // ------------------------------------------------------------ blocks

  const blockErrors = errorResponses('E_VALIDATION', 'E_USER_NOT_FOUND', 'E_BLOCK_LIMIT', 'E_BUSY', 'E_STORAGE_UNAVAILABLE');

  app.post<{ Params: { id: string } }>(
    '/v1/users/:id/block',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['users'],
        operationId: 'blockUser',
        summary: 'Block a user (idempotent): they cannot follow you, comment on your videos, reply to or mention you; follows between you end',
        security: auth,
        params: schemas.idParams,
        response: { 200: changed, ...blockErrors },
      },
    },
    async (req) => engine.block(userOf(req), req.params.id),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/users/:id/block',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['users'],
        operationId: 'unblockUser',
        summary: 'Unblock a user (idempotent; follows are not restored)',
        security: auth,
        params: schemas.idParams,
        response: { 200: changed, ...errorResponses('E_USER_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.unblock(userOf(req), req.params.id),
  );

  app.get<PageQuery>(
    '/v1/me/blocks',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['users'],
        operationId: 'listBlockedUsers',
        summary: 'Ids of the users you block, in id order',
        security: auth,
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(schemas.id), ...errorResponses('E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.social.blocked(userOf(req), { cursor: req.query.cursor, limit: req.query.limit }),
  );

  // ------------------------------------------------------------ reports

  app.post<{ Body: { target: ModerationTarget; reason: string } }>(
    '/v1/reports',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['moderation'],
        operationId: 'createReport',
        summary: 'Report a video, a comment or a user to the operators (once per target while it is open)',
        security: auth,
        body: { type: 'object', required: ['target', 'reason'], additionalProperties: false, properties: { target, reason } },
        response: {
          200: reportResult,
          ...errorResponses('E_VALIDATION', 'E_VIDEO_NOT_FOUND', 'E_COMMENT_NOT_FOUND', 'E_USER_NOT_FOUND', 'E_QUEUE_FULL', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req) => engine.report(userOf(req), checkedTarget(req.body.target), req.body.reason),
  );

  // ------------------------------------------------------------ operators

  app.get<PageQuery>(
    '/v1/admin/reports',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['moderation'],
        operationId: 'listOpenReports',
        summary: 'Open reports, oldest first (operators: ADMIN_USERS or an `admin` role claim)',
        security: auth,
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(report), ...errorResponses('E_FORBIDDEN', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.social.openReports(actorOf(req), { cursor: req.query.cursor, limit: req.query.limit }),
  );

  const moderationErrors = (notFound: 'E_VIDEO_NOT_FOUND' | 'E_COMMENT_NOT_FOUND') =>
    errorResponses('E_VALIDATION', 'E_FORBIDDEN', notFound, 'E_STORAGE_UNAVAILABLE');
  const hideBody = { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason } } as const;
  const commentParams = { type: 'object', required: ['id'], properties: { id: schemas.commentId } } as const;

  for (const kind of ['video', 'comment'] as const) {
    const path = kind === 'video' ? '/v1/admin/videos/:id' : '/v1/admin/comments/:id';
    const Kind = kind === 'video' ? 'Video' : 'Comment';
    const params = kind === 'video' ? schemas.idParams : commentParams;
    const errors = moderationErrors(kind === 'video' ? 'E_VIDEO_NOT_FOUND' : 'E_COMMENT_NOT_FOUND');
    app.post<{ Params: { id: string }; Body: { reason: string } }>(
      `${path}/hide`,
      {
        preHandler: app.requireUser,
        schema: {
          tags: ['moderation'],
          operationId: `hide${Kind}`,
          summary: `Hide a ${kind} (operators): it disappears for everyone${kind === 'video' ? ' but its owner' : ''}, live for watchers; its author is told; its open reports close`,
          security: auth,
          params,
          body: hideBody,
          response: { 200: changed, ...errors },
        },
      },
      async (req) => engine.hide(actorOf(req), { type: kind, id: req.params.id }, req.body.reason),
    );
    app.post<{ Params: { id: string } }>(
      `${path}/restore`,
      {
        preHandler: app.requireUser,
        schema: {
          tags: ['moderation'],
          operationId: `restore${Kind}`,
          summary: `Restore a hidden ${kind} (operators); its author is told`,
          security: auth,
          params,
          response: { 200: changed, ...errors },
        },
      },
      async (req) => engine.restore(actorOf(req), { type: kind, id: req.params.id }),
    );
  }
}

/** A comment target needs a comment id, the others a plain id (the schema allows either shape). */
function checkedTarget(t: ModerationTarget): ModerationTarget {
  const isComment = t.id.length === 27;
  if ((t.type === 'comment') !== isComment) throw new TremoloError('E_VALIDATION', `target.id is not a ${t.type} id`, { details: { field: 'target.id' } });
  return t;
}
