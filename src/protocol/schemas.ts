/**
 * JSON schemas of the REST bodies. Routes use them for validation and for response
 * serialization (fast-json-stringify), and the OpenAPI document is generated from them.
 */
const id = { type: 'string', pattern: '^[0-9A-HJKMNP-TV-Z]{13}$', description: 'A 13-character TSID' } as const;

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
    replyTo: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** A comment id, `<videoId>-<tsid>`. */
export const commentId = { type: 'string', maxLength: 64 } as const;

/** The fields of a comment a client adds (the REST body, the socket's `comment:add`). */
export const commentFields = {
  text: { type: 'string' },
  replyTo: commentId,
  idempotencyKey: { type: 'string', minLength: 1, maxLength: 128 },
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

export const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

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

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id },
} as const;

export const schemas = { id, counters, video, comment, commentId, commentFields, userProfile, errorBody, pageOf, pageQuery, idParams };
