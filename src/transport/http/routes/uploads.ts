/**
 * Resumable uploads: the tus 1.0 protocol at `/v1/uploads` (extensions: creation,
 * creation-with-upload, termination, expiration, checksum, concatenation), served by
 * @tus/server over the upload files' data store (DATA_DIR/uploads, or the bucket with
 * MEDIA_STORE=s3) and, on Redis, a lock shared by every process (media/upload-locker.ts). OPTIONS advertises Tus-Max-Size
 * (UPLOAD_MAX_BYTES).
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
 *   (the jobs service, over storage/uploads.ts); a removed upload gives it back through `onRemoved`;
 * - errors raised in our hooks reach the client as the catalog's JSON body, with
 *   Retry-After where it applies; tus's own refusals keep their status codes (tus
 *   clients act on them) and get a catalog code and message (tus-errors.ts), never tus's text.
 *
 * Checksums cover the whole file: `checksum` in Upload-Metadata (`sha256 <base64>`) is
 * checked when the last byte arrives; a mismatch removes the upload (E_CHECKSUM_MISMATCH).
 * The final PATCH starts the upload's media job and names it in `Tremolo-Job-Id`.
 *
 * What @tus/server lacks is done here, before tus sees the request:
 * - `X-HTTP-Method-Override` (for proxies that block PATCH): a POST to an upload's URL with
 *   it is that method; a POST to an upload's URL without it is refused, never a creation;
 * - the checksum extension: a PATCH's `Upload-Checksum` (sha1, sha256) is checked as its
 *   body streams to tus (tus-checksum.ts); on a mismatch its bytes are cut off again and
 *   the client gets 460;
 * - the concatenation extension (parallel uploads): a partial upload is created by tus,
 *   marked partial, reserves its size and starts no job; a final upload names finished
 *   partials of the same owner, is written here from their bytes, takes over their
 *   reservations (the partials are removed, so the bytes count once) and starts the job.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Locker } from '@tus/server';
import { ERRORS, Metadata, Server as TusServer, Upload } from '@tus/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireText } from '../../../domain/text.ts';
import { CONCAT_METADATA_KEY, isPartial, isUploadId, newUploadId, OWNER_METADATA_KEY, parseChecksum, type UploadInfo } from '../../../domain/uploads.ts';
import type { UploadFileAccess } from '../../../media/jobs.ts';
import type { UploadMetrics } from '../../../metrics.ts';
import { TremoloError, toTremoloError } from '../../../protocol/errors.ts';
import { sendError, userOf, type SignInHook } from '../server.ts';
import { CHUNK_CHECKSUM_ALGORITHMS, checksumVerifier, parseUploadChecksum } from '../tus-checksum.ts';
import { tusError } from '../tus-errors.ts';
import type { TraceContext } from '../../../telemetry/tracing.ts';

export const UPLOADS_PATH = '/v1/uploads';
export const JOB_ID_HEADER = 'Tremolo-Job-Id';
/** The most partial uploads one final upload may name. */
export const MAX_CONCAT_PARTS = 64;
/** Methods a POST to an upload's URL may stand for through X-HTTP-Method-Override. */
const OVERRIDABLE: ReadonlySet<string> = new Set(['PATCH', 'HEAD', 'DELETE']);
/** Metadata keys only the server sets: never taken from a client, never shown to one. */
const SERVER_KEYS: ReadonlySet<string> = new Set([OWNER_METADATA_KEY, CONCAT_METADATA_KEY]);

export interface UploadLimits {
  maxBytes: number;
  quotaBytes: number;
  expiryS: number;
  titleMaxChars: number;
  descriptionMaxChars: number;
}

export interface UploadRouteDeps {
  /** The upload files (DATA_DIR/uploads), through the jobs service. */
  files: UploadFileAccess;
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
  /** `trace`: the request's span, parent of the job's creation (its trace continues in the job). */
  startJob: (upload: UploadInfo, userId: string, trace?: TraceContext) => Promise<{ jobId: string }>;
  /**
   * The upload's files are gone (terminated, refused by its checksum, or never created):
   * give back its quota and stop its job, unless a video still shows media made from it.
   */
  onRemoved: (uploadId: string, userId: string) => Promise<void>;
  onError: (err: unknown, context: string) => void;
  /** Bytes received and requests receiving now. */
  metrics?: UploadMetrics;
  /** The upload lock shared by every process; unset: tus's in-process lock. */
  locker?: Locker;
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
  const traces = new WeakMap<Request, TraceContext>();
  const refusals = new WeakMap<Request, TremoloError>();
  const reserved = new WeakMap<Request, string>();
  /** Creations sent with `Upload-Concat: partial` (the header is taken off before tus sees it). */
  const partials = new WeakSet<Request>();
  const refuse = (req: Request, error: TremoloError): HookRefusal => {
    refusals.set(req, error);
    return new HookRefusal(error);
  };

  const datastore = files.tusStore({ expiryMs: limits.expiryS * 1000 });
  // Size limits and the quota are checked when an upload is created, so its length must be known then.
  // checksum and concatenation are done by this route (tus only lists them).
  datastore.extensions = [...datastore.extensions.filter((e) => e !== 'creation-defer-length'), 'checksum', 'concatenation'];

  /** The client's metadata checked as the video's will be: title and description as published, checksum syntax. */
  const checkedMetadata = (meta: Record<string, string | null | undefined>): { title: string; description: string } => {
    if ((meta.title ?? meta.filename ?? '').trim().length === 0) {
      throw new TremoloError('E_VALIDATION', 'Upload-Metadata must carry a title', { details: { field: 'title' } });
    }
    const title = requireText('title', meta.title ?? meta.filename ?? '', { min: 1, max: limits.titleMaxChars });
    const description = requireText('description', meta.description ?? '', { min: 0, max: limits.descriptionMaxChars });
    if (meta.checksum != null) parseChecksum(meta.checksum);
    return { title, description };
  };

  const tus = new TusServer({
    path: UPLOADS_PATH,
    datastore,
    ...(deps.locker ? { locker: deps.locker } : {}),
    maxSize: limits.maxBytes, // advertised as Tus-Max-Size
    ...(deps.publicUrl
      ? { generateUrl: (_req: Request, o: { path: string; id: string }) => `${deps.publicUrl!.replace(/\/+$/, '')}${o.path}/${o.id}` }
      : {}),
    exposedHeaders: [JOB_ID_HEADER],
    allowedOrigins: (origin: string) => deps.corsOrigins?.includes(origin) ?? false,
    namingFunction: (req) => newUploadId(users.get(req) ?? 'anonymous'),
    // tus's own parser takes whatever follows the URL's last '/', query string included.
    getFileIdFromRequest: (req) => uploadIdOf(req.url),
    onUploadCreate: async (req, upload) => {
      const userId = users.get(req);
      if (!userId) throw refuse(req, new TremoloError('E_TOKEN_MISSING'));
      const meta = clientMetadata(upload.metadata ?? {});
      const check = (cond: boolean, field: string, message: string): void => {
        if (!cond) throw refuse(req, new TremoloError('E_VALIDATION', message, { details: { field } }));
      };
      check(upload.size !== undefined, 'Upload-Length', 'Upload-Length is required (deferred lengths are not accepted)');
      const size = upload.size ?? 0;
      check(size > 0, 'Upload-Length', 'An upload must not be empty');
      if (size > limits.maxBytes) {
        throw refuse(req, new TremoloError('E_PAYLOAD_TOO_LARGE', `An upload may be at most ${limits.maxBytes} bytes`, { details: { maxBytes: limits.maxBytes } }));
      }
      const partial = partials.has(req);
      let server: Record<string, string>;
      try {
        // a partial is only bytes: the final upload carries the title the video is published with
        server = partial ? { [CONCAT_METADATA_KEY]: 'partial' } : checkedMetadata(meta);
      } catch (err) {
        throw refuse(req, toTremoloError(err));
      }
      // Last, so that nothing after it refuses an upload that holds a reservation.
      try {
        await deps.reserveQuota(userId, upload.id, size);
      } catch (err) {
        throw refuse(req, toTremoloError(err));
      }
      reserved.set(req, upload.id);
      return { metadata: { ...meta, ...server, [OWNER_METADATA_KEY]: userId } };
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
      if (isPartial(info)) return {}; // its final upload starts the job
      try {
        const { jobId } = await deps.startJob(info, userId, traces.get(req));
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

  /**
   * A final upload (concatenation): the named partials must be the user's own, partial and
   * finished. Their bytes are copied into a new upload, which then holds the quota they held.
   */
  const createFinal = async (req: FastifyRequest, reply: FastifyReply, concat: string): Promise<FastifyReply> => {
    const userId = userOf(req);
    if (req.headers['tus-resumable'] !== '1.0.0') {
      const error = tusError(412, '');
      return reply.code(412).header('Tus-Version', '1.0.0').type('application/json').send({ error: error.toJSON() });
    }
    const invalid = (field: string, message: string): TremoloError => new TremoloError('E_VALIDATION', message, { details: { field } });
    if (req.headers['upload-length'] !== undefined) throw invalid('Upload-Length', 'A final upload takes its length from its partial uploads: send no Upload-Length');
    const urls = concat.slice('final;'.length).trim().split(/ +/).filter((u) => u.length > 0);
    const ids = urls.map((u) => partialIdOf(u));
    if (urls.length === 0 || urls.length > MAX_CONCAT_PARTS || ids.some((i) => i === undefined) || new Set(ids).size !== ids.length) {
      throw invalid('Upload-Concat', `Upload-Concat must be "final;" and 1 to ${MAX_CONCAT_PARTS} distinct URLs of partial uploads`);
    }
    let meta: Record<string, string | null | undefined>;
    try {
      meta = clientMetadata(Metadata.parse(headerOf(req, 'upload-metadata')));
    } catch {
      throw tusError(400, ERRORS.INVALID_METADATA.body);
    }
    const { title, description } = checkedMetadata(meta);
    const parts: UploadInfo[] = [];
    for (const id of ids as string[]) {
      const part = await files.owned(id, userId); // another user's partial looks absent
      if (!isPartial(part)) throw invalid('Upload-Concat', 'Upload-Concat may name only partial uploads (Upload-Concat: partial)');
      if (part.size === undefined || part.offset < part.size) throw invalid('Upload-Concat', 'Every partial upload must be finished first');
      parts.push(part);
    }
    const size = parts.reduce((sum, p) => sum + p.size!, 0);
    if (size > limits.maxBytes) {
      throw new TremoloError('E_PAYLOAD_TOO_LARGE', `An upload may be at most ${limits.maxBytes} bytes`, { details: { maxBytes: limits.maxBytes } });
    }

    const finalId = newUploadId(userId);
    await datastore.create(new Upload({ id: finalId, size, offset: 0, metadata: { ...meta, title, description, [OWNER_METADATA_KEY]: userId } }));
    try {
      let offset = 0;
      for (const part of parts) offset = await datastore.write(await files.read(part.id), finalId, offset);
      if (meta.checksum && !(await files.checksumMatches(finalId, meta.checksum))) {
        throw new TremoloError('E_CHECKSUM_MISMATCH', 'The joined file does not match the checksum in its metadata; the partial uploads are kept');
      }
      // The partials' reservations make room for the final's: the bytes count once.
      for (const part of parts) await deps.onRemoved(part.id, userId);
      try {
        await deps.reserveQuota(userId, finalId, size);
      } catch (err) {
        for (const part of parts) await deps.reserveQuota(userId, part.id, part.size!).catch((e: unknown) => deps.onError(e, 'restoring a reservation'));
        throw err;
      }
    } catch (err) {
      await files.remove(finalId);
      throw err;
    }
    for (const part of parts) await files.remove(part.id); // their bytes live on in the final upload

    const location = `${deps.publicUrl ? deps.publicUrl.replace(/\/+$/, '') : `http://${req.headers.host ?? 'localhost'}`}${UPLOADS_PATH}/${finalId}`;
    reply.header('Tus-Resumable', '1.0.0').header('Location', location);
    const origin = req.headers.origin;
    if (origin && deps.corsOrigins?.includes(origin)) {
      reply.header('Access-Control-Allow-Origin', origin).header('Access-Control-Expose-Headers', `Location, Tus-Resumable, Upload-Concat, ${JOB_ID_HEADER}`);
    }
    // a job that cannot start now is refused with Location kept: POST /v1/jobs starts it later
    const { jobId } = await deps.startJob(await files.owned(finalId, userId), userId, req.span?.context);
    return reply.code(201).header(JOB_ID_HEADER, jobId).send();
  };

  // The body is tus's to read, chunk by chunk, straight into the file.
  app.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null));

  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const id = (req.params as { id?: string }).id;
    const method = methodOf(req, id);
    const concat = method === 'POST' ? headerOf(req, 'upload-concat') : undefined;
    if (concat !== undefined && concat.startsWith('final;')) return createFinal(req, reply, concat);
    if (concat !== undefined && concat !== 'partial') {
      throw new TremoloError('E_VALIDATION', 'Upload-Concat must be "partial" or "final;<URLs>"', { details: { field: 'Upload-Concat' } });
    }
    const checksum = method === 'PATCH' ? headerOf(req, 'upload-checksum') : undefined;
    const expected = checksum === undefined ? undefined : parseUploadChecksum(checksum);
    const web: Request = toWebRequest(
      req,
      method,
      expected &&
        ((body) =>
          body.pipe(
            checksumVerifier(expected.algorithm, expected.digest, () =>
              refuse(web, new TremoloError('E_CHECKSUM_MISMATCH', 'The PATCH body does not match its Upload-Checksum; it was not stored')),
            ),
          )),
      deps.metrics && ((n) => deps.metrics?.receivedBytes.inc(n)),
    );
    if (concat === 'partial') {
      partials.add(web);
      web.headers.delete('upload-concat'); // tus would refuse it: the concatenation is ours
    }
    let owned: UploadInfo | undefined;
    if (method !== 'OPTIONS') {
      const userId = userOf(req);
      users.set(web, userId);
      if (req.span) traces.set(web, req.span.context);
      if (id !== undefined) {
        // The upload checked here must be the one tus acts on: both read it through uploadIdOf.
        if (uploadIdOf(web.url) !== id) throw new TremoloError('E_UPLOAD_NOT_FOUND');
        owned = await files.owned(id, userId);
      }
    }
    const receiving = web.body !== null ? deps.metrics?.active : undefined;
    receiving?.inc();
    let res: Response;
    try {
      res = await tus.handleWeb(web);
    } finally {
      receiving?.dec();
    }
    const refusal = refusals.get(web);
    if (refusal?.code === 'E_CHECKSUM_MISMATCH' && expected && id !== undefined) {
      // the body went to the file as it came; the part that failed its checksum is cut off again
      await files.truncate(id, Number(req.headers['upload-offset']));
    }
    if (method === 'HEAD' && owned && isPartial(owned)) reply.header('Upload-Concat', 'partial');
    if (method === 'OPTIONS') reply.header('Tus-Checksum-Algorithm', CHUNK_CHECKSUM_ALGORITHMS.join(','));
    const createdId = reserved.get(web);
    if (createdId !== undefined && res.status >= 400 && !(await files.info(createdId))) {
      // reserved, then refused or failed before the upload was stored: nothing holds the bytes
      await deps.onRemoved(createdId, userOf(req));
    }
    if (refusal) {
      copyHeaders(res, reply, true);
      return sendError(reply, refusal);
    }
    if (method === 'DELETE' && res.status === 204 && id !== undefined) await deps.onRemoved(id, userOf(req));
    const text = await res.text();
    if (res.status >= 400) {
      copyHeaders(res, reply, true);
      // tus clients act on the exact status (409 offset mismatch, 410 expired, ...): keep it.
      const error = tusError(res.status, text);
      // the client's doing (a header, an offset, an extension not offered): worth a warning, not an error
      if (res.status < 500 || res.status === 501) req.log.warn({ status: res.status, code: error.code }, 'upload request refused');
      return reply.code(res.status).type('application/json').send({ error: error.toJSON() });
    }
    copyHeaders(res, reply, false);
    return reply.code(res.status).send(text.length ? text : undefined);
  };

  const preHandler: SignInHook = (req, reply, done) => (req.method === 'OPTIONS' ? done() : app.requireUser(req, reply, done));
  // Creation on the collection; everything else names one upload in the path. The document
  // shows each tus operation from openapi/tus-operations.ts.
  const schema = { hide: true } as const;
  app.route({ method: ['POST', 'OPTIONS'], url: UPLOADS_PATH, preHandler, schema, handler: handle });
  app.route({
    // POST only with X-HTTP-Method-Override (methodOf)
    method: ['HEAD', 'PATCH', 'DELETE', 'OPTIONS', 'POST'],
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
  return isUploadId(id) ? id : undefined;
}

/**
 * The upload a partial upload's URL in `Upload-Concat: final;...` names: absolute (Location,
 * PUBLIC_URL based, whatever its path prefix) or relative. Ownership is checked on the id.
 */
function partialIdOf(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url, 'http://localhost').pathname;
  } catch {
    return undefined;
  }
  const at = path.lastIndexOf(`${UPLOADS_PATH}/`);
  const id = at < 0 ? '' : path.slice(at + UPLOADS_PATH.length + 1);
  return isUploadId(id) ? id : undefined;
}

/**
 * The method a request stands for: its own, or on a POST to an upload's URL the one named by
 * X-HTTP-Method-Override (PATCH, HEAD, DELETE). A POST to an upload's URL never creates one.
 */
function methodOf(req: FastifyRequest, id: string | undefined): string {
  const override = headerOf(req, 'x-http-method-override')?.trim().toUpperCase();
  if (override === undefined) {
    if (req.method === 'POST' && id !== undefined) {
      throw new TremoloError('E_VALIDATION', `Uploads are created with POST ${UPLOADS_PATH}; an upload's URL takes POST only with X-HTTP-Method-Override`, {
        details: { field: 'X-HTTP-Method-Override' },
      });
    }
    return req.method;
  }
  if (req.method !== 'POST' || id === undefined || !OVERRIDABLE.has(override)) {
    throw new TremoloError('E_VALIDATION', "X-HTTP-Method-Override is honoured on a POST to an upload's URL, for PATCH, HEAD or DELETE", {
      details: { field: 'X-HTTP-Method-Override' },
    });
  }
  return override;
}

/** One request header as a string (repeated ones joined), or undefined. */
function headerOf(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The client's metadata without the keys only the server may set. */
function clientMetadata<T>(meta: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(meta).filter(([key]) => !SERVER_KEYS.has(key)));
}

/** Upload-Metadata as tus would answer it, without the keys only the server sets (`owner`, `concat`). */
function publicMetadata(header: string): string {
  return header
    .split(',')
    .filter((pair) => !SERVER_KEYS.has(pair.trim().split(' ')[0]!))
    .join(',');
}

/**
 * The request as tus gets it, with `method` (an override honoured); `wrapBody` may put a
 * stream between the request's body and tus (the checksum check); `onBody` is told the size
 * of each body chunk tus reads.
 */
function toWebRequest(req: FastifyRequest, method: string, wrapBody?: (body: Readable) => Readable, onBody?: (bytes: number) => void): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.raw.headers)) {
    // HTTP/2 pseudo-headers (`:method`, `:path`, ...) are no header names to fetch's Headers;
    // `:authority` stands for Host (tus builds the upload's Location from it)
    if (value === undefined || name.startsWith(':')) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const authority = req.raw.headers[':authority'];
  if (!headers.has('host') && typeof authority === 'string') headers.set('host', authority);
  // a body of another type was read by fastify's own parser (text/plain): tus gets none and refuses the type
  const withBody = (method === 'PATCH' || method === 'POST') && !req.raw.readableDidRead;
  headers.delete('x-http-method-override');
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (withBody) {
    let body: Readable = req.raw;
    if (wrapBody) {
      body = wrapBody(req.raw);
      req.raw.once('error', (err) => body.destroy(err)); // pipe() does not pass on a dropped connection
    }
    const stream = Readable.toWeb(body) as NodeReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>;
    init.body = onBody
      ? stream.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, out) {
              onBody(chunk.byteLength);
              out.enqueue(chunk);
            },
          }),
        )
      : stream;
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
