/**
 * JSON schemas of the inbox, blocks and moderation REST bodies (beside schemas.ts, which
 * holds the shared field definitions): validation, serialization and the OpenAPI document.
 */
import { schemas } from './schemas.ts';

/** A notification as published; its fields depend on `type` (see the README's notification table). */
const notification = {
  type: 'object',
  required: ['type'],
  additionalProperties: true,
  properties: { type: { type: 'string' } },
} as const;

export const inboxEntry = {
  type: 'object',
  required: ['id', 'type', 'target', 'actorIds', 'count', 'read', 'createdAt', 'updatedAt', 'latest'],
  properties: {
    id: schemas.id,
    type: { type: 'string', description: 'The notification type, e.g. `video:liked`' },
    target: { type: 'string', description: 'What it is about: a comment id, a video id, or your own id (follows)' },
    actorIds: { type: 'array', items: schemas.id, description: 'The latest actors first' },
    count: { type: 'integer', description: 'How many notifications the entry folds' },
    read: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    latest: notification,
  },
} as const;

export const inboxPage = {
  type: 'object',
  required: ['items', 'unread'],
  properties: {
    items: { type: 'array', items: inboxEntry },
    nextCursor: { type: 'string', description: 'Pass as ?cursor= for the next page; absent on the last page' },
    unread: { type: 'integer' },
  },
} as const;

export const unread = { type: 'object', required: ['unread'], properties: { unread: { type: 'integer' } } } as const;

export const changed = { type: 'object', required: ['changed'], properties: { changed: { type: 'boolean' } } } as const;

export const target = {
  type: 'object',
  required: ['type', 'id'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', enum: ['video', 'comment', 'user'] },
    id: { type: 'string', minLength: 13, maxLength: 27, pattern: '^[0-9A-HJKMNP-TV-Z]{13}(-[0-9A-HJKMNP-TV-Z]{13})?$', description: 'A video or user id, or a comment id' },
  },
} as const;

export const reason = { type: 'string', minLength: 1, maxLength: 500, description: 'Why: 1 to 500 characters' } as const;

export const report = {
  type: 'object',
  required: ['id', 'reporterId', 'target', 'reason', 'createdAt'],
  properties: { id: schemas.id, reporterId: schemas.id, target, reason: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' } },
} as const;

export const reportResult = {
  type: 'object',
  required: ['report', 'duplicate'],
  properties: { report, duplicate: { type: 'boolean', description: 'You had already reported this target: `report` is the first one' } },
} as const;
