/**
 * `GET /media/*`: serves stored media, only under a valid signed URL (see signing.ts).
 * Local files go out through @fastify/static's `sendFile`, so Range requests get 206 partial
 * content (players seek in the MP4 that way). Playlists are rewritten on the way out:
 * a player resolves `480p/index.m3u8` against the playlist URL and drops its query, so
 * every URI inside is signed with the same expiry as the playlist that names it.
 *
 * Media in a bucket (MEDIA_STORE=s3): playlists are still read and rewritten here (a
 * presigned URL cannot be resolved against: its signature covers the one key), so every
 * segment a player fetches is one of our signed URLs again; the files themselves are
 * answered with a 302 to a short-lived presigned bucket URL (MEDIA_DELIVERY=redirect), or
 * streamed from the bucket by this process with the Range passed on (MEDIA_DELIVERY=proxy).
 */
import type { Readable } from 'node:stream';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifySchema } from 'fastify';
import { TremoloError, toTremoloError } from '../../protocol/errors.ts';
import { errorResponses } from '../http/openapi/operation-errors.ts';
import { rangeVerdict } from './byte-ranges.ts';
import type { MediaSigner } from './signing.ts';

/** The media files as this route serves them (storage/media/media-store.ts's stores are such). */
export interface ServedMedia {
  /** Set for local files, served from this directory with sendFile; unset for a bucket. */
  readonly root?: string;
  /** The size (and modification time) of a stored file, or null when there is none; E_VALIDATION for a path outside the store. */
  stat(relPath: string): Promise<{ size: number; mtimeMs?: number } | null>;
  /** A stored file's bytes, or the inclusive range of them. */
  read(relPath: string, range?: { start: number; end: number }): Promise<Readable>;
  /** A URL the store serves the file under for `ttlS` seconds, or null when it has none. */
  presign(relPath: string, ttlS: number): Promise<string | null>;
}

/** How files of a store without a `root` are answered (MEDIA_DELIVERY, MEDIA_PRESIGN_TTL_S). */
export interface MediaDelivery {
  mode: 'redirect' | 'proxy';
  presignTtlS: number;
}

export interface MediaRoutesOptions {
  signer: MediaSigner;
  store: ServedMedia;
  /** Default: redirect, presigned URLs good for 60 s. */
  delivery?: MediaDelivery;
  /** Injected for tests; ms since epoch. */
  now?: () => number;
}

export const MEDIA_PREFIX = '/media/';

/**
 * The files made for players, relative to the media root: `<id>/` + the MP4, the poster,
 * the HLS master and per-rung playlists and segments (see tasks/transcode.ts). What else a
 * job leaves there (audio extract, keyframes for tagging) is never served, whatever the
 * signature says: a signature vouches for a path, not for what the path holds.
 */
const CLIENT_MEDIA_FILES = '[A-Za-z0-9_-]{1,64}/(?:video\\.mp4|poster\\.jpg|hls/master\\.m3u8|hls/\\d{2,4}p/(?:index\\.m3u8|seg_\\d{1,6}\\.ts))';
const CLIENT_MEDIA = new RegExp(`^${CLIENT_MEDIA_FILES}$`);

/** Whether a stored file is one handed to clients (and so may be served). */
function isClientMedia(relPath: string): boolean {
  return CLIENT_MEDIA.test(relPath);
}

/** The URL path under which a stored file is served, ready to sign. */
export function mediaUrlPath(relPath: string): string {
  return `${MEDIA_PREFIX}${relPath}`;
}

/** Signs every URI line of a playlist, relative to the playlist's own URL path. */
export function signPlaylist(text: string, playlistPath: string, exp: number, signer: MediaSigner): string {
  const base = playlistPath.slice(0, playlistPath.lastIndexOf('/') + 1);
  return text
    .split('\n')
    .map((line) => {
      const t = line.trim();
      if (!t || t.startsWith('#')) return line;
      if (/^[a-z][a-z0-9+.-]*:|^\//i.test(t)) return line; // absolute URIs are left alone
      return signer.signUntil(`${base}${t}`, exp);
    })
    .join('\n');
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = toTremoloError(err);
  return reply.code(e.status).header('cache-control', 'no-store').send({ error: e.toJSON() });
}

export async function mediaRoutes(app: FastifyInstance, opts: MediaRoutesOptions): Promise<void> {
  const { signer, store } = opts;
  const delivery = opts.delivery ?? { mode: 'redirect', presignTtlS: 60 };
  const now = opts.now ?? Date.now;
  if (store.root !== undefined) {
    await app.register(fastifyStatic, { root: store.root, serve: false, cacheControl: false, etag: true, lastModified: true });
  }

  app.get(`${MEDIA_PREFIX}*`, { schema: MEDIA_SCHEMA, config: { swaggerTransform: documentMedia } }, async (request, reply) => {
    try {
      const raw = request.raw.url ?? '';
      const q = raw.indexOf('?');
      const path = q === -1 ? raw : raw.slice(0, q);
      const query = request.query as Record<string, unknown>;
      const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
      const t = now();
      const exp = signer.verify(path, str(query.exp), str(query.sig), t);
      const relPath = path.slice(MEDIA_PREFIX.length);
      if (!isClientMedia(relPath)) throw new TremoloError('E_NOT_FOUND', 'No such media file');
      const info = await store.stat(relPath);
      if (!info) throw new TremoloError('E_NOT_FOUND', 'No such media file');
      const maxAge = Math.max(0, exp - Math.floor(t / 1000));
      reply.header('cache-control', `private, max-age=${maxAge}`);
      if (relPath.endsWith('.m3u8')) {
        const text = await readText(await store.read(relPath));
        return reply.type('application/vnd.apple.mpegurl').send(signPlaylist(text, path, exp, signer));
      }
      if (rangeVerdict(request.headers.range, info.size) === 'unsatisfiable') {
        reply.header('content-range', `bytes */${info.size}`);
        throw new TremoloError('E_RANGE_NOT_SATISFIABLE', `The range is not satisfiable: the file has ${info.size} bytes`);
      }
      if (store.root !== undefined) return reply.sendFile(relPath);
      if (delivery.mode === 'redirect') {
        // never good for longer than the URL that led here
        const url = await store.presign(relPath, Math.max(1, Math.min(delivery.presignTtlS, maxAge)));
        if (url !== null) return reply.header('cache-control', 'private, no-store').redirect(url, 302);
      }
      return proxy(reply, store, relPath, info, request.headers.range);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}

async function readText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const TYPES: Record<string, string> = { mp4: 'video/mp4', jpg: 'image/jpeg', ts: 'video/mp2t' };

/**
 * Streams a stored file through this process: one byte range as 206 with Content-Range (the
 * store reads just that range), anything else (no Range, several ranges) as the whole file.
 */
async function proxy(
  reply: FastifyReply,
  store: ServedMedia,
  relPath: string,
  info: { size: number; mtimeMs?: number },
  rangeHeader: string | undefined,
): Promise<FastifyReply> {
  reply.header('accept-ranges', 'bytes').type(TYPES[relPath.slice(relPath.lastIndexOf('.') + 1)] ?? 'application/octet-stream');
  if (info.mtimeMs) reply.header('last-modified', new Date(info.mtimeMs).toUTCString());
  const range = rangeVerdict(rangeHeader, info.size) === 'satisfiable' ? singleRange(rangeHeader ?? '', info.size) : undefined;
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${info.size}`).header('content-length', range.end - range.start + 1);
    return reply.send(await store.read(relPath, range));
  }
  reply.header('content-length', info.size);
  return reply.send(await store.read(relPath));
}

/** The one satisfiable range of a `bytes=` header (rangeVerdict said it has one), or undefined for several. */
function singleRange(header: string, size: number): { start: number; end: number } | undefined {
  const specs = header.replace(/^\s*bytes\s*=/i, '').split(',');
  if (specs.length !== 1) return undefined;
  const [first = '', last = ''] = specs[0]!.trim().split('-');
  if (first === '') {
    const n = Math.min(Number(last), size);
    return { start: size - n, end: size - 1 };
  }
  return { start: Number(first), end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

/** What the handler refuses with (fastify serializes these answers with the same schemas). */
const MEDIA_SCHEMA: FastifySchema = {
  response: {
    ...errorResponses('E_SIGNATURE_INVALID', 'E_SIGNATURE_EXPIRED', 'E_VALIDATION', 'E_NOT_FOUND'),
    416: {
      ...errorResponses('E_RANGE_NOT_SATISFIABLE')[416],
      headers: { 'Content-Range': { type: 'string', description: '`bytes */<size>`' } },
    },
  },
};

/**
 * The operation as the document shows it. The wildcard becomes the parameter `path` (OpenAPI
 * has no wildcards), and what the signature check reads itself (the path, `exp`, `sig`,
 * Range) is documented here without fastify validating it: a missing or malformed signature
 * stays 403 E_SIGNATURE_INVALID.
 */
function documentMedia({ schema }: { schema: FastifySchema }): { schema: FastifySchema; url: string } {
  const binary = { schema: { type: 'string', format: 'binary' } };
  const content = { 'video/mp4': binary, 'image/jpeg': binary, 'application/vnd.apple.mpegurl': binary, 'video/mp2t': binary };
  const fileHeaders = {
    'Cache-Control': { type: 'string', description: '`private, max-age=<seconds the URL has left>`' },
    ETag: { type: 'string' },
    'Last-Modified': { type: 'string' },
  };
  return {
    url: `${MEDIA_PREFIX}{path}`,
    schema: {
      ...schema,
      tags: ['media'],
      operationId: 'getMedia',
      summary: 'A media file under a signed URL (as video responses give them), with Range support',
      description:
        'The MP4, the poster, and the HLS master and rendition playlists and segments of a video; nothing else is served, ' +
        'whatever the signature. Playlists come back with every URI in them signed with the same expiry.',
      security: [],
      params: {
        type: 'object',
        required: ['path'],
        properties: {
          path: {
            type: 'string',
            pattern: `^${CLIENT_MEDIA_FILES}$`,
            description: 'The file, with its slashes (not percent-encoded), e.g. `<id>/hls/master.m3u8`',
          },
        },
      },
      querystring: {
        type: 'object',
        required: ['exp', 'sig'],
        properties: {
          exp: { type: 'string', pattern: '^\\d{1,12}$', description: 'Expiry, unix seconds' },
          sig: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url HMAC-SHA256 of the path and exp' },
        },
      },
      headers: { type: 'object', properties: { range: { type: 'string', description: 'One byte range, e.g. `bytes=0-1023`' } } },
      response: {
        ...(schema.response as object),
        200: { description: 'The file', content, headers: { ...fileHeaders, 'Accept-Ranges': { type: 'string', description: '`bytes`' } } },
        206: {
          description: 'The requested range',
          content,
          headers: { ...fileHeaders, 'Content-Range': { type: 'string', description: '`bytes <first>-<last>/<size>`' } },
        },
        304: { type: 'null', description: 'Not modified (If-None-Match / If-Modified-Since)' },
      },
    },
  };
}
