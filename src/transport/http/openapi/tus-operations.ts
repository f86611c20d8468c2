/**
 * The tus 1.0 operations at /v1/uploads (routes/uploads.ts), written out for the OpenAPI
 * document. One fastify route there serves every tus method, and tus speaks in headers, so
 * fastify's route schema cannot describe them; docs.ts adds these path items instead.
 *
 * The refusals are tus's own, by name, per method (what its handlers throw), with the
 * status tus answers and the code tus-errors.ts gives them, so this document follows that
 * mapping; and the refusals of our hooks, with their catalog statuses. The server-wide
 * answers (tokens, rate limits, ...) are added with every other operation's
 * (operation-errors.ts).
 */
import { ERRORS } from '@tus/server';
import type { OpenAPIV3 } from 'openapi-types';
import type { ErrorCode } from '../../../protocol/errors.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { tusError } from '../tus-errors.ts';
import { byStatus, errorResponse } from './operation-errors.ts';

/** The limits the upload routes enforce (UPLOAD_MAX_BYTES, TITLE_MAX_CHARS, ...). */
export interface TusDocLimits {
  maxBytes: number;
  titleMaxChars: number;
  descriptionMaxChars: number;
}

type TusErrorName = keyof typeof ERRORS;

/** Every tus request but OPTIONS: the version header, then each tus header's syntax. */
const PRECONDITIONS: readonly { status: number; body: string }[] = [
  { status: 412, body: 'Tus-Resumable Required\n' },
  { status: 400, body: 'Invalid upload-length\n' },
];
/** A PATCH's Content-Type is checked with the other headers. */
const CONTENT_TYPE_CHECK = { status: 400, body: 'Invalid content-type\n' };
/** Locks and failures any handler may meet. */
const ANY_HANDLER: readonly TusErrorName[] = ['ABORTED', 'ERR_LOCK_TIMEOUT', 'UNKNOWN_ERROR'];

/** What tus's status means, for the statuses the catalog does not give these codes. */
const TUS_LEADS: Record<number, string> = {
  400: 'Refused: a tus header is missing or malformed, or another request for the upload took over',
  403: 'Refused by tus: Upload-Offset or the Content-Type is missing',
  404: 'No such upload of yours',
  409: "Upload-Offset is not the upload's offset: HEAD the upload for it",
  410: 'The upload expired or was removed',
  412: 'Tus-Resumable: 1.0.0 is required',
  460: "The bytes do not match their checksum: a PATCH's Upload-Checksum (nothing of it stored) or the whole-file checksum in the metadata (the upload was removed)",
  500: 'The upload could not be locked in time (retry), or the server failed',
  501: 'A tus extension this server does not offer (deferred length)',
};

/** Answers of our hooks when the last byte arrives: the checksum, then the upload's job. */
const FINISH: readonly ErrorCode[] = ['E_CHECKSUM_MISMATCH', 'E_QUEUE_FULL', 'E_MEDIA_UNAVAILABLE', 'E_BUSY', 'E_STORAGE_UNAVAILABLE', 'E_UPLOAD_NOT_FOUND'];

/** The tus path items for the document, with the configured limits. */
export function tusOperations(limits: TusDocLimits): Record<string, OpenAPIV3.PathItemObject> {
  const security = [{ bearer: [] }];
  const tags = ['uploads'];
  const tusResumable: OpenAPIV3.ParameterObject = {
    name: 'Tus-Resumable',
    in: 'header',
    required: true,
    schema: { type: 'string', enum: ['1.0.0'] },
    description: 'The tus version; every request but OPTIONS carries it',
  };
  const uploadIdParam: OpenAPIV3.ParameterObject = {
    name: 'id',
    in: 'path',
    required: true,
    schema: { type: 'string', pattern: schemas.uploadId.pattern },
    description: 'The upload id, the last segment of its `Location`; an id of someone else\'s upload is answered as unknown',
  };
  const header = (description: string, schema: OpenAPIV3.SchemaObject, required = false): OpenAPIV3.HeaderObject => ({ description, schema, required });
  const tusResumableOut = header('1.0.0', { type: 'string' }, true);
  const uploadExpires = header('When an unfinished upload is removed (RFC 9110 date)', { type: 'string' });
  const jobId = header('The media job the upload started (sent by the request that completes the upload)', { type: 'string', pattern: schemas.id.pattern });
  const bytes = (description: string): OpenAPIV3.RequestBodyObject['content'] => ({
    'application/offset+octet-stream': { schema: { type: 'string', format: 'binary', description } },
  });

  return {
    '/v1/uploads': {
      options: {
        operationId: 'getUploadCapabilities',
        summary: 'tus discovery: the version and extensions this server offers',
        tags,
        security: [],
        responses: {
          204: {
            description: 'The capabilities, in headers',
            headers: {
              'Tus-Resumable': tusResumableOut,
              'Tus-Version': header('Versions offered: 1.0.0', { type: 'string' }, true),
              'Tus-Extension': header('creation, creation-with-upload, termination, expiration, checksum, concatenation', { type: 'string' }, true),
              'Tus-Max-Size': header(`The largest upload in bytes: ${limits.maxBytes} (UPLOAD_MAX_BYTES)`, { type: 'integer', minimum: 1 }, true),
              'Tus-Checksum-Algorithm': header('Algorithms accepted in Upload-Checksum: sha1,sha256', { type: 'string' }, true),
            },
          },
          ...refusals('options', [], [], ['E_ORIGIN_NOT_ALLOWED'], 'A CORS preflight from an origin not in CORS_ORIGINS'),
        },
      },
      post: {
        operationId: 'createUpload',
        summary: 'Start a resumable upload (tus creation); its first bytes may come along',
        description:
          `Upload-Metadata is comma-separated \`key base64(value)\` pairs: \`title\` (required, 1 to ${limits.titleMaxChars} characters; ` +
          `\`filename\` stands in for it), \`description\` (at most ${limits.descriptionMaxChars}), and \`checksum\` (\`sha256 <base64 digest>\`, ` +
          'also sha1 or md5) of the whole file, checked when the last byte arrives. Titles follow the text rules of videos. ' +
          'An upload counts against the user\'s quota (UPLOAD_QUOTA_BYTES) until it expires or is terminated. ' +
          'When the bytes sent complete the upload, its media job starts and is named in Tremolo-Job-Id. ' +
          'Concatenation (parallel uploads): `Upload-Concat: partial` creates a partial upload (no metadata needed, no job; it counts ' +
          'against the quota); `Upload-Concat: final;<URL> <URL> ...` with Upload-Metadata and no Upload-Length creates the upload from ' +
          'finished partial uploads of the same user, in that order, removes them (their quota passes to it, so the bytes count once) and starts its job.',
        tags,
        security,
        parameters: [
          tusResumable,
          {
            name: 'Upload-Length',
            in: 'header',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: limits.maxBytes },
            description: `The size of the whole file in bytes, at most ${limits.maxBytes} (UPLOAD_MAX_BYTES); required but for a final upload (concatenation), which must not send it; deferred lengths are not accepted`,
          },
          {
            name: 'Upload-Concat',
            in: 'header',
            required: false,
            schema: { type: 'string', pattern: '^(partial|final;.+)$' },
            description: `\`partial\`, or \`final;\` and 1 to 64 space-separated URLs of the user's finished partial uploads (concatenation)`,
          },
          {
            name: 'Upload-Metadata',
            in: 'header',
            required: false,
            // one of the pairs is a non-empty title (or filename)
            schema: { type: 'string', pattern: '(^|,) *(title|filename) [A-Za-z0-9+/]+={0,2} *(,|$)' },
            description: 'Comma-separated `key base64value` pairs with unique keys; `title` is required (see above) but for a partial upload',
            examples: { title: { value: 'title bXkgY2xpcA==' } },
          },
        ],
        requestBody: { required: false, content: bytes('The first bytes of the file (creation-with-upload)') },
        responses: {
          201: {
            description: 'Created',
            headers: {
              Location: header('The upload\'s URL (PUBLIC_URL based when set)', { type: 'string', format: 'uri' }, true),
              'Tus-Resumable': tusResumableOut,
              'Upload-Expires': uploadExpires,
              'Upload-Offset': header('Bytes stored, when some came along', { type: 'integer', minimum: 0 }),
              'Tremolo-Job-Id': jobId,
            },
          },
          ...refusals(
            'post',
            ['INVALID_LENGTH', 'INVALID_METADATA', 'UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION', 'ERR_SIZE_EXCEEDED', 'ERR_MAX_SIZE_EXCEEDED', 'FILE_WRITE_ERROR', ...ANY_HANDLER],
            PRECONDITIONS,
            ['E_VALIDATION', 'E_PAYLOAD_TOO_LARGE', 'E_QUOTA_EXCEEDED', ...FINISH],
          ),
        },
      },
    },
    '/v1/uploads/{id}': {
      head: {
        operationId: 'getUploadOffset',
        summary: 'How much of an upload the server has (tus): resume from Upload-Offset',
        tags,
        security,
        parameters: [uploadIdParam, tusResumable],
        responses: {
          200: {
            description: 'The upload\'s state, in headers',
            headers: {
              'Upload-Offset': header('Bytes stored', { type: 'integer', minimum: 0 }, true),
              'Upload-Length': header('The size of the whole file', { type: 'integer', minimum: 1 }, true),
              'Upload-Metadata': header('The metadata the client sent (keys only the server sets are left out)', { type: 'string' }),
              'Upload-Concat': header('`partial` for a partial upload (concatenation)', { type: 'string' }),
              'Upload-Expires': uploadExpires,
              'Cache-Control': header('no-store', { type: 'string' }, true),
              'Tus-Resumable': tusResumableOut,
            },
          },
          ...refusals('head', ['FILE_NOT_FOUND', 'FILE_NO_LONGER_EXISTS', ...ANY_HANDLER], PRECONDITIONS, ['E_UPLOAD_NOT_FOUND']),
        },
      },
      patch: {
        operationId: 'appendToUpload',
        summary: 'Send bytes of an upload from its offset (tus); the last ones start its media job',
        tags,
        security,
        parameters: [
          uploadIdParam,
          tusResumable,
          {
            name: 'Upload-Offset',
            in: 'header',
            required: true,
            schema: { type: 'integer', minimum: 0 },
            description: 'Where these bytes go: the upload\'s current offset (from HEAD)',
          },
          {
            name: 'Upload-Checksum',
            in: 'header',
            required: false,
            schema: { type: 'string', pattern: '^(sha1|sha256) [A-Za-z0-9+/]+={0,2}$' },
            description: 'The checksum of this request\'s bytes (tus checksum extension): on a mismatch 460 and none of them is stored',
          },
        ],
        requestBody: { required: true, content: bytes('The next bytes of the file') },
        responses: {
          204: {
            description: 'Stored',
            headers: {
              'Upload-Offset': header('Bytes stored now', { type: 'integer', minimum: 0 }, true),
              'Upload-Expires': uploadExpires,
              'Tus-Resumable': tusResumableOut,
              'Tremolo-Job-Id': jobId,
            },
          },
          ...refusals(
            'patch',
            [
              'FILE_NOT_FOUND',
              'MISSING_OFFSET',
              'INVALID_CONTENT_TYPE',
              'FILE_NO_LONGER_EXISTS',
              'INVALID_OFFSET',
              'UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION',
              'INVALID_LENGTH',
              'ERR_SIZE_EXCEEDED',
              'ERR_MAX_SIZE_EXCEEDED',
              'FILE_WRITE_ERROR',
              ...ANY_HANDLER,
            ],
            [...PRECONDITIONS, CONTENT_TYPE_CHECK],
            ['E_VALIDATION', 'E_UPLOAD_NOT_FOUND', ...FINISH],
          ),
        },
      },
      post: {
        operationId: 'overrideUploadMethod',
        summary: 'PATCH, HEAD or DELETE for clients behind proxies that block them (X-HTTP-Method-Override)',
        description:
          'Answers as the method named in X-HTTP-Method-Override, with its headers and body (tus-js-client `overridePatchMethod`). ' +
          "A POST to an upload's URL without it is refused: uploads are created at POST /v1/uploads only.",
        tags,
        security,
        parameters: [
          uploadIdParam,
          tusResumable,
          {
            name: 'X-HTTP-Method-Override',
            in: 'header',
            required: true,
            schema: { type: 'string', enum: ['PATCH', 'HEAD', 'DELETE'] },
            description: 'The method this request stands for',
          },
        ],
        requestBody: { required: false, content: bytes('The next bytes of the file, for PATCH') },
        responses: {
          200: { description: 'As HEAD', headers: { 'Upload-Offset': header('Bytes stored', { type: 'integer', minimum: 0 }), 'Tus-Resumable': tusResumableOut } },
          204: { description: 'As PATCH or DELETE', headers: { 'Upload-Offset': header('Bytes stored now (PATCH)', { type: 'integer', minimum: 0 }), 'Tus-Resumable': tusResumableOut, 'Tremolo-Job-Id': jobId } },
          ...refusals(
            'post',
            ['FILE_NOT_FOUND', 'MISSING_OFFSET', 'INVALID_CONTENT_TYPE', 'FILE_NO_LONGER_EXISTS', 'INVALID_OFFSET', 'INVALID_TERMINATION', 'ERR_SIZE_EXCEEDED', 'FILE_WRITE_ERROR', ...ANY_HANDLER],
            [...PRECONDITIONS, CONTENT_TYPE_CHECK],
            ['E_VALIDATION', 'E_UPLOAD_NOT_FOUND', ...FINISH],
          ),
        },
      },
      delete: {
        operationId: 'terminateUpload',
        summary: 'Remove an upload (tus termination); a job it started is cancelled',
        tags,
        security,
        parameters: [uploadIdParam, tusResumable],
        responses: {
          204: { description: 'Removed', headers: { 'Tus-Resumable': tusResumableOut } },
          ...refusals('delete', ['FILE_NOT_FOUND', 'INVALID_TERMINATION', ...ANY_HANDLER], PRECONDITIONS, ['E_UPLOAD_NOT_FOUND']),
        },
      },
    },
  };
}

/**
 * The error responses of one tus operation: tus's refusals `named` and `raw` (status and
 * text as tus writes them) with the codes tus-errors.ts gives them, and `own` codes of our
 * hooks under their catalog statuses.
 */
function refusals(
  method: string,
  named: readonly TusErrorName[],
  raw: readonly { status: number; body: string }[],
  own: readonly ErrorCode[],
  lead?: string,
): Record<number, OpenAPIV3.ResponseObject> {
  const codes = new Map<number, ErrorCode[]>();
  const add = (status: number, code: ErrorCode) => codes.set(status, [...(codes.get(status) ?? []), code]);
  for (const name of named) add(ERRORS[name].status_code, tusError(ERRORS[name].status_code, ERRORS[name].body).code);
  for (const { status, body } of raw) add(status, tusError(status, body).code);
  for (const [status, list] of byStatus(own)) for (const code of list) add(status, code);
  const out: Record<number, OpenAPIV3.ResponseObject> = {};
  for (const [status, list] of codes) out[status] = errorResponse(status, list, { lead: lead ?? TUS_LEADS[status], method });
  return out;
}
