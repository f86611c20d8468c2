/**
 * `GET /media/*`: serves stored media, only under a valid signed URL (see signing.ts).
 * Files go out through @fastify/static's `sendFile`, so Range requests get 206 partial
 * content (players seek in the MP4 that way). Playlists are rewritten on the way out:
 * a player resolves `480p/index.m3u8` against the playlist URL and drops its query, so
 * every URI inside is signed with the same expiry as the playlist that names it.
 */
import { readFile } from 'node:fs/promises';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifySchema } from 'fastify';
import { TremoloError, toTremoloError } from '../../protocol/errors.ts';
import { errorResponses } from '../http/openapi/operation-errors.ts';
import { rangeVerdict } from './byte-ranges.ts';
import type { MediaSigner } from './signing.ts';

/** The media files as this route serves them: a local directory (storage/media/media-store.ts is one). */
export interface ServedMedia {
  readonly root: string;
  /** Absolute path of a stored file; refuses anything that would leave the root (E_VALIDATION). */
  resolve(relPath: string): string;
  /** The size of a stored file, or null when there is none. */
  stat(relPath: string): Promise<{ size: number } | null>;
}

export interface MediaRoutesOptions {
  signer: MediaSigner;
  store: ServedMedia;
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
  const now = opts.now ?? Date.now;
  await app.register(fastifyStatic, { root: store.root, serve: false, cacheControl: false, etag: true, lastModified: true });

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
        const text = await readFile(store.resolve(relPath), 'utf8');
        return reply.type('application/vnd.apple.mpegurl').send(signPlaylist(text, path, exp, signer));
      }
      if (rangeVerdict(request.headers.range, info.size) === 'unsatisfiable') {
        reply.header('content-range', `bytes */${info.size}`);
        throw new TremoloError('E_RANGE_NOT_SATISFIABLE', `The range is not satisfiable: the file has ${info.size} bytes`);
      }
      return reply.sendFile(relPath);
    } catch (err) {
      return sendError(reply, err);
    }
  });
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
