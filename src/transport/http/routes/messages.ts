/**
 * Direct messages over REST: the inbox, one conversation, its history, sending (for clients
 * without a socket) and the DM policy. Live delivery, receipts, typing and sync are socket
 * events (docs/protocol.md).
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { CONVERSATION_ID_PATTERN, DM_POLICIES, type DmPolicy, type SendRequest } from '../../../protocol/dm.ts';
import { schemas, textField } from '../../../protocol/schemas.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';

const conversationId = { type: 'string', pattern: CONVERSATION_ID_PATTERN, description: 'Two user ids joined by a dot (one-to-one), or `g` and 24 hex digits (a group)' } as const;

const message = {
  type: 'object',
  required: ['id', 'conversationId', 'seq', 'senderId', 'createdAt', 'text'],
  properties: {
    id: { type: 'string', description: '`<conversationId>:<seq>`' },
    conversationId,
    seq: { type: 'integer' },
    senderId: schemas.id,
    createdAt: { type: 'string', format: 'date-time' },
    text: { type: 'string' },
    videoId: schemas.id,
    replyTo: { type: 'integer' },
    deleted: { type: 'boolean' },
  },
} as const;

const event = {
  type: 'object',
  required: ['type', 'seq'],
  description: 'A log entry: `message` (with `message`), `deleted` (with `messageSeq` and `userId`) or `left` (with `userId`)',
  properties: {
    type: { type: 'string', enum: ['message', 'deleted', 'left'] },
    seq: { type: 'integer' },
    message,
    messageSeq: { type: 'integer' },
    userId: schemas.id,
  },
} as const;

const conversation = {
  type: 'object',
  required: ['id', 'kind', 'members', 'head', 'epoch', 'activity', 'unread', 'muted', 'read', 'receipts'],
  properties: {
    id: conversationId,
    kind: { type: 'string', enum: ['direct', 'group'] },
    members: { type: 'array', items: schemas.id },
    head: { type: 'integer', description: 'Seq of the newest log entry' },
    epoch: { type: 'string' },
    activity: { type: 'integer', description: 'ms since the epoch of the last change' },
    lastMessage: message,
    unread: { type: 'integer' },
    muted: { type: 'boolean' },
    read: { type: 'integer' },
    receipts: {
      type: 'array',
      items: { type: 'object', required: ['userId', 'delivered', 'read'], properties: { userId: schemas.id, delivered: { type: 'integer' }, read: { type: 'integer' } } },
    },
  },
} as const;

const policyBody = { type: 'object', required: ['policy'], additionalProperties: false, properties: { policy: { type: 'string', enum: [...DM_POLICIES] } } } as const;

export async function messageRoutes(app: FastifyInstance, deps: { engine: Engine; textMaxChars: number; groupMax: number }): Promise<void> {
  const { engine } = deps;
  const auth = [{ bearer: [] }];
  const params = { type: 'object', required: ['id'], properties: { id: conversationId } } as const;
  const readErrors = errorResponses('E_CONVERSATION_NOT_FOUND', 'E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE');

  app.get<{ Querystring: { cursor?: string; limit: number } }>(
    '/v1/conversations',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['messages'],
        operationId: 'listConversations',
        summary: 'Your conversations by last activity, newest first, with unread counts and the last message',
        security: auth,
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(conversation), ...errorResponses('E_BAD_CURSOR', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.dm.inbox(userOf(req), { cursor: req.query.cursor, limit: req.query.limit }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/conversations/:id',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['messages'],
        operationId: 'getConversation',
        summary: 'One of your conversations',
        security: auth,
        params,
        response: { 200: conversation, ...errorResponses('E_CONVERSATION_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => engine.dm.conversation(userOf(req), req.params.id),
  );

  app.get<{ Params: { id: string }; Querystring: { cursor?: string; limit: number } }>(
    '/v1/conversations/:id/messages',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['messages'],
        operationId: 'listMessages',
        summary: 'A conversation\'s log, newest first, paged (as far back as DM_LOG_MAX entries)',
        security: auth,
        params,
        querystring: schemas.pageQuery,
        response: { 200: schemas.pageOf(event), ...readErrors },
      },
    },
    async (req) => engine.dm.history(userOf(req), req.params.id, { cursor: req.query.cursor, limit: req.query.limit }),
  );

  app.post<{ Body: SendRequest }>(
    '/v1/messages',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['messages'],
        operationId: 'sendMessage',
        summary: 'Send a message to a conversation, a user, or several users (a new group); a retry with the same idempotencyKey returns the original',
        security: auth,
        body: {
          type: 'object',
          required: ['idempotencyKey'],
          additionalProperties: false,
          properties: {
            conversationId,
            toUserId: schemas.id,
            memberIds: { type: 'array', items: schemas.id, minItems: 1, maxItems: deps.groupMax + 8 },
            text: textField(0, deps.textMaxChars, 'Message (1 or more characters unless a video is shared)'),
            videoId: schemas.id,
            replyTo: { type: 'integer', minimum: 1 },
            idempotencyKey: schemas.idempotencyKey,
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['message', 'duplicate', 'epoch'],
            description: 'Sent (or, with `duplicate: true`, sent before with this key)',
            properties: { message, duplicate: { type: 'boolean' }, epoch: { type: 'string' } },
          },
          ...errorResponses(
            'E_CONVERSATION_NOT_FOUND',
            'E_USER_NOT_FOUND',
            'E_VIDEO_NOT_FOUND',
            'E_REPLY_TARGET',
            'E_BLOCKED',
            'E_DM_NOT_ALLOWED',
            'E_GROUP_FULL',
            'E_BUSY',
            'E_STORAGE_UNAVAILABLE',
          ),
        },
      },
    },
    async (req, reply) => reply.code(201).send(await engine.dm.send(userOf(req), req.body)),
  );

  // the policy is read and written in one shape
  const policy = { tags: ['messages'], security: auth, response: { 200: policyBody, ...errorResponses('E_STORAGE_UNAVAILABLE') } };
  app.get(
    '/v1/me/dm-policy',
    {
      preHandler: app.requireUser,
      schema: { ...policy, operationId: 'getDmPolicy', summary: 'Who may message you: anyone, mutual (you follow each other; the default) or nobody' },
    },
    async (req) => ({ policy: await engine.dm.policy(userOf(req)) }),
  );
  app.put<{ Body: { policy: DmPolicy } }>(
    '/v1/me/dm-policy',
    { preHandler: app.requireUser, schema: { ...policy, operationId: 'setDmPolicy', summary: 'Set who may message you', body: policyBody } },
    async (req) => ({ policy: await engine.dm.setPolicy(userOf(req), req.body.policy) }),
  );
}
