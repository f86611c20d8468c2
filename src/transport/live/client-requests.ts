/**
 * Checks of what clients send with each socket event, declared with the same field
 * definitions as the REST schemas (protocol/schemas.ts) and compiled by fastify's own ajv
 * compiler without type coercion, as REST bodies are: a video id, a comment or an
 * idempotency key is one rule over HTTP and the socket. Unlike REST bodies, unknown fields
 * are ignored, and an optional field may be null (read as absent), as the socket always allowed.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import { TremoloError } from '../../protocol/errors.ts';
import type { ClientEvent, RequestOf } from '../../protocol/live.ts';
import { CONVERSATION_ID_PATTERN } from '../../protocol/dm.ts';
import { schemas, textField } from '../../protocol/schemas.ts';
import { issueField, type ValidationIssue } from '../http/validators.ts';

const videoRef = { type: 'object', required: ['videoId'], properties: { videoId: schemas.id } } as const;
const commentRef = { type: 'object', required: ['commentId'], properties: { commentId: schemas.commentId } } as const;
/** A page request over the socket: the REST page query's fields, each optional. */
const pageFields = {
  cursor: { ...schemas.pageQuery.properties.cursor, nullable: true },
  limit: { ...schemas.pageQuery.properties.limit, nullable: true },
} as const;
const userRef = { type: 'object', required: ['userId'], properties: { userId: schemas.id } } as const;
const conversationId = { type: 'string', pattern: CONVERSATION_ID_PATTERN } as const;
const seq = (min: number) => ({ type: 'integer', minimum: min, maximum: Number.MAX_SAFE_INTEGER }) as const;
const conversationRef = { type: 'object', required: ['conversationId'], properties: { conversationId } } as const;

/** Direct-message payloads; text limits from DM_TEXT_MAX_CHARS, the group size from DM_GROUP_MAX. */
function dmRequestSchemas(limits: { dmTextMaxChars: number; dmGroupMax: number }) {
  return {
    'dm:send': {
      type: 'object',
      required: ['idempotencyKey'],
      properties: {
        conversationId,
        toUserId: schemas.id,
        // a few more than a group holds, so a list that is too long gets E_GROUP_FULL, not a schema error
        memberIds: { type: 'array', items: schemas.id, minItems: 1, maxItems: limits.dmGroupMax + 8 },
        text: textField(0, limits.dmTextMaxChars, 'Message'),
        videoId: schemas.id,
        replyTo: seq(1),
        idempotencyKey: schemas.idempotencyKey,
      },
    },
    'dm:delete': { type: 'object', required: ['conversationId', 'seq'], properties: { conversationId, seq: seq(1) } },
    'dm:receipt': { type: 'object', required: ['conversationId'], properties: { conversationId, delivered: seq(0), read: seq(0) } },
    'dm:typing': conversationRef,
    'dm:sync': {
      type: 'object',
      properties: {
        since: seq(0),
        cursors: {
          type: 'array',
          maxItems: 1000,
          items: {
            type: 'object',
            required: ['conversationId', 'seq'],
            properties: { conversationId, seq: seq(0), epoch: { type: 'string', minLength: 1, maxLength: 128 } },
          },
        },
      },
    },
    'dm:mute': { type: 'object', required: ['conversationId', 'muted'], properties: { conversationId, muted: { type: 'boolean' } } },
    'dm:leave': conversationRef,
  } as const;
}

/** Every client event's payload schema; text limits come from the configuration, as for REST. */
export function clientRequestSchemas(limits: RequestLimits) {
  return {
    ...dmRequestSchemas({ dmTextMaxChars: limits.dmTextMaxChars ?? 2000, dmGroupMax: limits.dmGroupMax ?? 32 }),
    'video:watch': {
      type: 'object',
      required: ['videoId'],
      properties: {
        videoId: schemas.id,
        sinceOffset: { type: 'integer', minimum: 0, nullable: true },
        epoch: { type: 'string', minLength: 1, maxLength: 128, nullable: true },
      },
    },
    'video:unwatch': videoRef,
    'video:like': videoRef,
    'video:unlike': videoRef,
    'comment:add': {
      type: 'object',
      required: ['videoId', 'text', 'idempotencyKey'],
      properties: {
        videoId: schemas.id,
        text: textField(1, limits.commentMaxChars, 'Comment'),
        replyTo: schemas.commentId,
        idempotencyKey: schemas.idempotencyKey,
      },
    },
    'comment:delete': commentRef,
    'comment:like': commentRef,
    'comment:unlike': commentRef,
    'comment:pin': {
      type: 'object',
      required: ['videoId', 'commentId'],
      properties: { videoId: schemas.id, commentId: { ...schemas.commentId, nullable: true } },
    },
    'comment:threads': {
      type: 'object',
      required: ['videoId'],
      properties: { videoId: schemas.id, order: { type: 'string', enum: ['newest', 'top'], nullable: true }, ...pageFields },
    },
    'comment:replies': { type: 'object', required: ['commentId'], properties: { commentId: schemas.commentId, ...pageFields } },
    'video:favorite': videoRef,
    'video:unfavorite': videoRef,
    'user:follow': userRef,
    'user:unfollow': userRef,
    'feed:foryou': {
      type: 'object',
      properties: {
        cursor: { type: 'string', maxLength: 512, nullable: true },
        limit: { type: 'integer', minimum: 1, maximum: 100, nullable: true },
        session: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,64}$', nullable: true },
      },
    },
    // ranges and the other rules are checked by the engine, the same for REST (actors/interactions.ts)
    'video:progress': {
      type: 'object',
      required: ['videoId', 'watchedMs', 'positionMs', 'durationMs', 'completed'],
      properties: {
        videoId: schemas.id,
        watchedMs: { type: 'integer' },
        positionMs: { type: 'integer' },
        durationMs: { type: 'integer' },
        completed: { type: 'boolean' },
        session: { type: 'string', pattern: '^[A-Za-z0-9_-]{16,64}$', nullable: true },
      },
    },
    'inbox:read': { type: 'object', properties: { entryId: { ...schemas.id, nullable: true } } },
    'user:block': userRef,
    'user:unblock': userRef,
  } as const satisfies Record<ClientEvent, object>;
}

export interface RequestLimits {
  commentMaxChars: number;
  dmTextMaxChars?: number;
  dmGroupMax?: number;
}

/** A compiled schema: true when `data` passes, else false with `errors` set. */
interface Check {
  (data: unknown): boolean;
  errors?: ValidationIssue[] | null;
}
type Compile = (route: { schema: object }) => Check;
type Pool = (externalSchemas: object, options: { customOptions: Record<string, unknown> }) => Compile;

export class ClientRequests {
  private readonly checks = new Map<ClientEvent, Check>();

  constructor(limits: RequestLimits) {
    const compile = (AjvCompiler as unknown as () => Pool)()({}, { customOptions: { coerceTypes: false } });
    for (const [event, schema] of Object.entries(clientRequestSchemas(limits))) this.checks.set(event as ClientEvent, compile({ schema }));
  }

  /** `req` as event `E`'s payload, or E_VALIDATION naming the first field that is wrong. */
  read<E extends ClientEvent>(event: E, req: unknown): RequestOf<E> {
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new TremoloError('E_VALIDATION', 'The payload must be an object');
    const check = this.checks.get(event)!;
    if (check(req)) return req as RequestOf<E>;
    const issue = check.errors?.[0];
    const field = issueField(issue);
    throw new TremoloError('E_VALIDATION', `${field || 'payload'} ${issue?.message ?? 'is invalid'}`, { details: { field } });
  }
}
