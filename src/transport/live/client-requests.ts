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

/** Every client event's payload schema; text limits come from the configuration, as for REST. */
export function clientRequestSchemas(limits: { commentMaxChars: number }) {
  return {
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
  } as const satisfies Record<ClientEvent, object>;
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

  constructor(limits: { commentMaxChars: number }) {
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
