/**
 * The OpenAPI 3 document at /openapi.json, generated from the route schemas, and a
 * docs page at /docs. Registered before the routes so it sees every one of them.
 *
 * The routes' schemas give each operation its parameters, bodies, success answers and the
 * refusals of its handler; to the finished document this adds the operations fastify's
 * schemas cannot describe (tus, see openapi/tus-operations.ts) and, to every operation,
 * what the server answers whatever the route (openapi/operation-errors.ts).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { OpenAPIV3 } from 'openapi-types';
import { addServerErrors } from '../openapi/operation-errors.ts';
import { UNMETERED_PATHS } from '../server.ts';

export interface DocsOptions {
  version: string;
  /** PUBLIC_URL: where clients reach the API; else the document's own server. */
  publicUrl?: string | undefined;
  /** Operations that no route schema describes, by path (the tus protocol's). */
  operations?: Record<string, OpenAPIV3.PathItemObject>;
}

const TAGS: OpenAPIV3.TagObject[] = [
  { name: 'health', description: 'Liveness and readiness probes' },
  { name: 'auth', description: 'Accounts and access tokens' },
  { name: 'videos', description: 'Publishing, reading and deleting videos' },
  { name: 'likes', description: 'Idempotent likes' },
  { name: 'comments', description: 'Comments, with idempotent retries' },
  { name: 'users', description: 'Profiles and the follow graph' },
  { name: 'feeds', description: 'The following feed and the hot feed' },
  { name: 'uploads', description: 'Resumable uploads (tus 1.0) and their media jobs' },
  { name: 'media', description: 'Transcoded media under signed URLs' },
];

const DESCRIPTION = [
  'Real-time interaction engine for short-video apps. Live delivery (Socket.IO) is specified in docs/protocol.md.',
  '',
  'Every error body is `{ "error": { "code", "message", "details"? } }`; each operation lists, per status, the catalog codes it can',
  'answer with, including those any request can get (a malformed request, a draining server, rate limits, tokens).',
  'A CORS preflight (OPTIONS with Access-Control-Request-Method) of any path is answered 204, or 403 `E_ORIGIN_NOT_ALLOWED`',
  'for an origin not in CORS_ORIGINS; a path no operation serves is 404 `E_ROUTE_NOT_FOUND`.',
].join('\n');

export async function docsRoutes(app: FastifyInstance, opts: DocsOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'tremolo',
        version: opts.version,
        description: DESCRIPTION,
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      servers: [
        opts.publicUrl
          ? { url: opts.publicUrl.replace(/\/+$/, ''), description: 'PUBLIC_URL' }
          : { url: '/', description: 'The server that serves this document' },
      ],
      tags: TAGS,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transformObject: (documentObject) => {
      // this plugin is set up for OpenAPI 3.0 above, never Swagger 2
      const doc = (documentObject as { openapiObject: Partial<OpenAPIV3.Document> }).openapiObject;
      doc.paths = { ...doc.paths, ...structuredClone(opts.operations ?? {}) };
      addServerErrors(doc, { unmetered: UNMETERED_PATHS });
      return doc;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
