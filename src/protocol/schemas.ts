/**
 * JSON schemas of the REST bodies. Routes use them for validation and for response
 * serialization (fast-json-stringify), and the OpenAPI document is generated from them.
 * Fields with configured limits are built from those limits at start (`handleField`,
 * `textField`), so the document states the limits the server enforces.
 */
import { ERROR_CATALOG, type ErrorCode } from './errors.ts';

const TSID = '[0-9A-HJKMNP-TV-Z]{13}';
const id = { type: 'string', pattern: `^${TSID}$`, description: 'A 13-character TSID', examples: ['0APCR7QP80000'] } as const;

/** `@handle`s resolved when a text was written (social: mentions); also in social-schemas.ts. */
const mentionList = {
  type: 'array',
  description: 'The `@handle`s that named users when the text was written (offsets in UTF-16 code units)',
  items: { type: 'object', required: ['userId', 'start', 'end'], properties: { userId: id, start: { type: 'integer' }, end: { type: 'integer' } } },
} as const;

/** A comment id: its video's id and its own TSID. */
const commentId = {
  type: 'string',
  pattern: `^${TSID}-${TSID}$`,
  description: '`<videoId>-<tsid>`',
  examples: ['0APCR7QP80000-0APCR7RS00000'],
} as const;

/** A client's key for a write it may send again: a retry with the same key is stored once. */
const idempotencyKey = { type: 'string', minLength: 1, maxLength: 128 } as const;

/** An upload id, as the tus server names uploads: `<ownerId>-<32 hex digits>`. */
const uploadId = {
  type: 'string',
  pattern: '^[A-Za-z0-9]{1,64}-[a-f0-9]{32}$',
  description: 'An upload id: the last segment of the upload\'s `Location`',
  examples: ['0APCR7QP80000-78f27383749f6560b551a43bdeb268b5'],
} as const;

export const counters = {
  type: 'object',
  required: ['likes', 'comments', 'views', 'version'],
  properties: {
    likes: { type: 'integer' },
    comments: { type: 'integer' },
    views: { type: 'integer' },
    version: { type: 'integer', description: 'Grows with every change; drop anything older than what you have' },
  },
} as const;

export const video = {
  type: 'object',
  required: ['id', 'ownerId', 'title', 'description', 'createdAt', 'media', 'counters'],
  properties: {
    id,
    ownerId: id,
    title: { type: 'string' },
    description: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    media: {
      type: 'object',
      properties: {
        hls: { type: 'string' },
        mp4: { type: 'string' },
        poster: { type: 'string' },
        external: { type: 'string' },
      },
    },
    tagging: {
      type: 'object',
      description: 'What the media pipeline found in the video',
      properties: {
        tags: { type: 'array', items: { type: 'string' }, description: 'Normalised: lower case, no leading #' },
        ocr: {
          type: 'array',
          description: 'On-screen text lines, de-duplicated across keyframes (at most 50)',
          items: {
            type: 'object',
            properties: {
              text: { type: 'string' },
              confidence: { type: 'number' },
              box: {
                type: 'array',
                description: 'Corners [x, y] in pixels of the keyframe (see frame): top-left, top-right, bottom-right, bottom-left',
                items: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
                minItems: 4,
                maxItems: 4,
              },
            },
          },
        },
        frame: {
          type: 'object',
          description: 'Size of the keyframes the OCR boxes refer to (the MP4 rendition and poster size)',
          properties: { width: { type: 'integer' }, height: { type: 'integer' } },
        },
        speechRatio: { type: 'number', description: 'Share of the audio that is speech, 0..1' },
        speechSegments: {
          type: 'array',
          description: 'Stretches of speech in seconds from the start (at most 200)',
          items: { type: 'object', properties: { startS: { type: 'number' }, endS: { type: 'number' } } },
        },
      },
    },
    counters,
    mentions: mentionList,
    likedByMe: { type: 'boolean' },
    degraded: { type: 'boolean', description: 'Served from cache while storage is unavailable' },
  },
} as const;

export const comment = {
  type: 'object',
  required: ['id', 'videoId', 'authorId', 'text', 'createdAt'],
  properties: {
    id: { type: 'string', description: '<videoId>-<tsid>' },
    videoId: id,
    authorId: id,
    text: { type: 'string' },
    replyTo: { type: 'string', description: 'The comment this one answers (replyToCommentId)' },
    createdAt: { type: 'string', format: 'date-time' },
    mentions: mentionList,
    threadId: { type: 'string', description: "A reply's thread: the top-level comment it hangs under (absent: top-level)" },
    replyToUserId: { ...id, description: 'The author of the comment answered' },
  },
} as const;

/** A comment in a thread listing: with its exact like count, reply count and the reader's like. */
export const commentView = {
  type: 'object',
  required: [...comment.required, 'likes', 'replies'],
  properties: {
    ...comment.properties,
    likes: { type: 'integer' },
    replies: { type: 'integer', description: 'Replies in its thread (0 for a reply)' },
    likedByMe: { type: 'boolean', description: 'With a token' },
    pinned: { type: 'boolean', description: 'The comment the video owner pinned (leads the first page)' },
  },
} as const;

export const userProfile = {
  type: 'object',
  required: ['id', 'handle', 'displayName', 'bio', 'createdAt', 'followers', 'following', 'videos'],
  properties: {
    id,
    handle: { type: 'string' },
    displayName: { type: 'string' },
    bio: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    followers: { type: 'integer' },
    following: { type: 'integer' },
    videos: { type: 'integer' },
    degraded: { type: 'boolean' },
  },
} as const;

/** `{ error: { code, message, details? } }`, with `code` described by the given schema. */
function errorEnvelope(code: { type: 'string'; enum?: string[] }) {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code,
          message: { type: 'string', description: 'For people; act on the code' },
          details: { type: 'object', additionalProperties: true, description: 'Fields a client may act on, e.g. `{ "field": "title" }`' },
        },
      },
    },
  };
}

export const errorBody = errorEnvelope({ type: 'string' });

/** The error body of an answer that carries one of `codes` (and nothing else). */
export function errorBodyOf(codes: readonly ErrorCode[]) {
  return errorEnvelope({ type: 'string', enum: [...new Set(codes)].sort() });
}

/** The catalog codes an error body schema made by `errorBodyOf` admits. */
export function codesOf(schema: unknown): ErrorCode[] {
  const error = (schema as { properties?: { error?: { properties?: { code?: { enum?: unknown } } } } } | undefined)?.properties?.error;
  const list = error?.properties?.code?.enum;
  return Array.isArray(list) ? list.filter((c): c is ErrorCode => typeof c === 'string' && Object.hasOwn(ERROR_CATALOG, c)) : [];
}

export function pageOf(items: object) {
  return {
    type: 'object',
    required: ['items'],
    properties: {
      items: { type: 'array', items },
      nextCursor: { type: 'string', description: 'Pass as ?cursor= for the next page; absent on the last page' },
      degraded: { type: 'boolean' },
    },
  } as const;
}

export const pageQuery = {
  type: 'object',
  properties: {
    cursor: { type: 'string', maxLength: 512 },
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
  },
  additionalProperties: false,
} as const;

/** pageQuery plus `order`, one of `orders` (the first is the default). */
export function orderedPageQuery(orders: readonly [string, ...string[]]) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: { ...pageQuery.properties, order: { type: 'string', enum: orders, default: orders[0] } },
  } as const;
}

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id },
} as const;

/** A user handle of at most `max` characters (HANDLE_MAX_CHARS), as registration checks it. */
export function handleField(max: number) {
  return {
    type: 'string',
    minLength: 3,
    maxLength: max,
    pattern: '^[a-zA-Z][a-zA-Z0-9_.]*$',
    description: `3 to ${max} letters, digits, "_" or ".", starting with a letter; case-insensitive`,
    examples: ['alice'],
  } as const;
}

/**
 * User text (titles, descriptions, comments) of `min` to `max` characters (the configured
 * limits). Characters are code points, as the server counts them; the schema counts them as
 * sent, then the server trims the text and removes control characters, and non-empty text
 * must show a visible character.
 */
export function textField(min: number, max: number, what: string) {
  const rules = min > 0 ? '; trimmed, control characters removed, and it must show a visible character' : '; cleaned as titles are';
  return { type: 'string', minLength: min, maxLength: max, description: `${what}: ${min} to ${max} characters${rules}` } as const;
}

export const schemas = { id, commentId, idempotencyKey, uploadId, counters, video, comment, commentView, userProfile, errorBody, errorBodyOf, pageOf, pageQuery, orderedPageQuery, idParams };
