/**
 * Resumable uploads: the tus 1.0 protocol at `/v1/uploads` (extensions: creation,
 * creation-with-upload, termination, expiration), served by @tus/server with its file
 * store under DATA_DIR/uploads.
 *
 * tus runs behind fastify rather than beside it, so uploads share authentication, rate
 * limits, request ids and the error catalog with every other route:
 * - fastify leaves `application/offset+octet-stream` bodies unread; the raw request is
 *   handed to tus as a web Request and its web Response copied back onto the reply;
 * - every request but OPTIONS needs the same bearer token as the rest of the API, and an
 *   upload is visible only to the user who created it (others get E_UPLOAD_NOT_FOUND);
 * - an upload is named by its path alone (`/v1/uploads/<id>`): the ownership check and tus
 *   both read the id through `uploadIdOf`, and HEAD never answers the server's `owner` key;
 * - creating an upload reserves its size of the user's quota in storage, atomically
 *   (storage/uploads.ts); a removed upload gives it back through `onRemoved`;
 * - errors raised in our hooks reach the client as the catalog's JSON body, with
 *   Retry-After where it applies; tus's own refusals keep their status codes (tus
 *   clients act on them) and get a catalog code and message (tus-errors.ts), never tus's text.
 *
 * Checksums cover the whole file: `checksum` in Upload-Metadata (`sha256 <base64>`) is
 * checked when the last byte arrives; a mismatch removes the upload (E_CHECKSUM_MISMATCH).
 * The final PATCH starts the upload's media job and names it in `Tremolo-Job-Id`.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { FileStore } from '@tus/file-store';
import { Server as TusServer } from '@tus/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireText } from '../../../domain/text.ts';
import { TremoloError, toTremoloError } from '../../../protocol/errors.ts';
import { OWNER_METADATA_KEY, parseChecksum, UploadFiles, type UploadInfo } from '../../../storage/media/upload-files.ts';
import { sendError, userOf } from '../server.ts';
import { tusError } from '../tus-errors.ts';

export const UPLOADS_PATH = '/v1/uploads';
export const JOB_ID_HEADER = 'Tremolo-Job-Id';

export interface UploadLimits {
  maxBytes: number;
  quotaBytes: number;
  expiryS: number;
  titleMaxChars: number;
  descriptionMaxChars: number;
}

export interface UploadRouteDeps {
  files: UploadFiles;
  limits: UploadLimits;
  /** Base URL for Location headers (PUBLIC_URL); else taken from the request's Host. */
  publicUrl?: string;
  /** Other sites' origins allowed to read the answers (CORS_ORIGINS); tus would allow any. */
  corsOrigins?: readonly string[];
  /**
   * Reserves a new upload's declared size of the user's quota in storage, atomically, so
   * parallel creations cannot overshoot it; E_QUOTA_EXCEEDED when it does not fit.
   */
  reserveQuota: (userId: string, uploadId: string, bytes: number) => Promise<void>;
  /** Starts (or finds) the job of a finished upload; E_QUEUE_FULL when there is no room. */
  startJob: (upload: UploadInfo, userId: string) => Promise<{ jobId: string }>;
  /**
   * The upload's files are gone (terminated, refused by its checksum, or never created):
   * give back its quota and stop its job, unless a video still shows media made from it.
   */
  onRemoved: (uploadId: string, userId: string) => Promise<void>;
  onError: (err: unknown, context: string) => void;
}

/** Thrown from tus hooks: tus needs `status_code`/`body`; we keep the TremoloError to answer with. */
class HookRefusal {
  constructor(readonly error: TremoloError) {}
  get status_code(): number {
    return this.error.status;
  }
  get body(): string {
    return JSON.stringify({ error: this.error.toJSON() });
  }
}

export async function uploadRoutes(app: FastifyInstance, deps: UploadRouteDeps): Promise<void> {
  const { files, limits } = deps;
  await files.init();

  /** Per request: who is asking, the error one of our hooks refused it with, the upload it reserved quota for. */
  const users = new WeakMap<Request, string>();
  const refusals = new WeakMap<Request, TremoloError>();
  const reserved = new WeakMap<Request, string>();
  const refuse = (req: Request, error: TremoloError): HookRefusal => {
    refusals.set(req, error);
    return new HookRefusal(error);
  };

  const datastore = new FileStore({ directory: files.dir, expirationPeriodInMilliseconds: limits.expiryS * 1000 });
  // Size limits and the quota are checked when an upload is created, so its length must be known then.
  datastore.extensions = datastore.extensions.filter((e) => e !== 'creation-defer-length');
  const tus = new TusServer({
    path: UPLOADS_PATH,
    datastore,
    ...(deps.publicUrl
      ? { generateUrl: (_req: Request, o: { path: string; id: string }) => `${deps.publicUrl!.replace(/\/+$/, '')}${o.path}/${o.id}` }
      : {}),
    exposedHeaders: [JOB_ID_HEADER],
    allowedOrigins: (origin: string) => deps.corsOrigins?.includes(origin) ?? false,
    namingFunction: (req) => UploadFiles.newId(users.get(req) ?? 'anonymous'),
    // tus's own parser takes whatever follows the URL's last '/', query string included.
    getFileIdFromRequest: (req) => uploadIdOf(req.url),
    onUploadCreate: async (req, upload) => {
      const userId = users.get(req);
      if (!userId) throw refuse(req, new TremoloError('E_TOKEN_MISSING'));
      const meta = upload.metadata ?? {};
      const check = (cond: boolean, field: string, message: string): void => {
        if (!cond) throw refuse(req, new TremoloError('E_VALIDATION', message, { details: { field } }));
      };
      check(upload.size !== undefined, 'Upload-Length', 'Upload-Length is required (deferred lengths are not accepted)');
      const size = upload.size ?? 0;
      check(size > 0, 'Upload-Length', 'An upload must not be empty');
      if (size > limits.maxBytes) {
        throw refuse(req, new TremoloError('E_PAYLOAD_TOO_LARGE', `An upload may be at most ${limits.maxBytes} bytes`, { details: { maxBytes: limits.maxBytes } }));
      }
      check((meta.title ?? meta.filename ?? '').trim().length > 0, 'title', 'Upload-Metadata must carry a title');
      let title: string;
      let description: string;
      try {
        // the rules the video will be published with (lengths, visible characters, valid Unicode)
        title = requireText('title', meta.title ?? meta.filename ?? '', { min: 1, max: limits.titleMaxChars });
        description = requireText('description', meta.description ?? '', { min: 0, max: limits.descriptionMaxChars });
      } catch (err) {
        throw refuse(req, toTremoloError(err));
      }
      if (meta.checksum != null) {
        try {
          parseChecksum(meta.checksum);
        } catch (err) {
          throw refuse(req, toTremoloError(err));
        }
      }
      // Last, so that nothing after it refuses an upload that holds a reservation.
      try {
        await deps.reserveQuota(userId, upload.id, size);
      } catch (err) {
        throw refuse(req, toTremoloError(err));
      }
      reserved.set(req, upload.id);
      return { metadata: { ...meta, title, description, [OWNER_METADATA_KEY]: userId } };
    },
    onUploadFinish: async (req, upload) => {
      const userId = users.get(req);
      if (!userId) throw refuse(req, new TremoloError('E_TOKEN_MISSING'));
      const checksum = upload.metadata?.checksum;
      if (checksum && !(await files.checksumMatches(upload.id, checksum))) {
        await tus.datastore
          .remove(upload.id)
          .then(() => deps.onRemoved(upload.id, userId))
          .catch((err: unknown) => deps.onError(err, 'removing an upload'));
        throw refuse(req, new TremoloError('E_CHECKSUM_MISMATCH', 'The file does not match the checksum in its metadata; it was removed'));
      }
      const info = await files.owned(upload.id, userId);
      try {
        const { jobId } = await deps.startJob(info, userId);
        return { headers: { [JOB_ID_HEADER]: jobId } };
      } catch (err) {
        throw refuse(req, toTremoloError(err));
      }
    },
    onResponseError: (_req, err) => {
      if (err instanceof HookRefusal) return { status_code: err.status_code, body: err.body };
      const status = 'status_code' in err ? err.status_code : 500;
      if (status >= 500 && status !== 501) deps.onError(err, 'upload'); // 501: an extension we do not offer, the client's doing
      return undefined;
    },
  });

  // The body is tus's to read, chunk by chunk, straight into the file.
  app.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null));

  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const web = toWebRequest(req);
    const id = (req.params as { id?: string }).id;
    if (req.method !== 'OPTIONS') {
      const userId = userOf(req);
      users.set(web, userId);
      if (id !== undefined) {
        // The upload checked here must be the one tus acts on: both read it through uploadIdOf.
        if (uploadIdOf(web.url) !== id) throw new TremoloError('E_UPLOAD_NOT_FOUND');
        await files.owned(id, userId);
      }
    }
    const res = await tus.handleWeb(web);
    const createdId = reserved.get(web);
    if (createdId !== undefined && res.status >= 400 && !(await files.info(createdId))) {
      // reserved, then refused or failed before the upload was stored: nothing holds the bytes
      await deps.onRemoved(createdId, userOf(req));
    }
    const refusal = refusals.get(web);
    if (refusal) {
      copyHeaders(res, reply, true);
      return sendError(reply, refusal);
    }
    if (req.method === 'DELETE' && res.status === 204 && id !== undefined) await deps.onRemoved(id, userOf(req));
    const text = await res.text();
    if (res.status >= 400) {
      copyHeaders(res, reply, true);
      // tus clients act on the exact status (409 offset mismatch, 410 expired, ...): keep it.
      const error = tusError(res.status, text);
      return reply.code(res.status).type('application/json').send({ error: error.toJSON() });
    }
    copyHeaders(res, reply, false);
    return reply.code(res.status).send(text.length ? text : undefined);
  };

  const auth = (req: FastifyRequest): Promise<void> | undefined => (req.method === 'OPTIONS' ? undefined : app.requireUser(req));
  const preHandler = async (req: FastifyRequest): Promise<void> => auth(req);
  // Creation on the collection; everything else names one upload in the path. The document
  // shows each tus operation from openapi/tus-operations.ts.
  const schema = { hide: true } as const;
  app.route({ method: ['POST', 'OPTIONS'], url: UPLOADS_PATH, preHandler, schema, handler: handle });
  app.route({
    method: ['HEAD', 'PATCH', 'DELETE', 'OPTIONS'],
    url: `${UPLOADS_PATH}/:id`,
    preHandler,
    schema: { ...schema, params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 128 } } } },
    handler: handle,
  });
}

/**
 * The upload a request URL names: the one path segment after UPLOADS_PATH, read from the
 * path alone (a query string never counts), or undefined. The ownership check and tus
 * (`getFileIdFromRequest`) both take the id from here, so they cannot act on different ones.
 */
export function uploadIdOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url, 'http://localhost').pathname;
  } catch {
    return undefined;
  }
  const id = path.startsWith(`${UPLOADS_PATH}/`) ? path.slice(UPLOADS_PATH.length + 1) : '';
  return UploadFiles.isId(id) ? id : undefined;
}

/** Upload-Metadata as tus would answer it, without the keys only the server sets (`owner`). */
function publicMetadata(header: string): string {
  return header
    .split(',')
    .filter((pair) => pair.trim().split(' ')[0] !== OWNER_METADATA_KEY)
    .join(',');
}

function toWebRequest(req: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.raw.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  // a body of another type was read by fastify's own parser (text/plain): tus gets none and refuses the type
  const withBody = (req.method === 'PATCH' || req.method === 'POST') && !req.raw.readableDidRead;
  const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers };
  if (withBody) {
    init.body = Readable.toWeb(req.raw) as NodeReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  // A fixed origin: tus reads the upload id from this URL, so no request header may shape it.
  return new Request(`http://localhost${req.raw.url ?? '/'}`, init);
}

/** tus's headers onto our reply; Content-Length is fastify's to set for the body we send. */
function copyHeaders(res: Response, reply: FastifyReply, forError: boolean): void {
  res.headers.forEach((value, name) => {
    const n = name.toLowerCase();
    if (n === 'content-length' || (forError && n === 'content-type')) return;
    reply.header(name, n === 'upload-metadata' ? publicMetadata(value) : value);
  });
}
