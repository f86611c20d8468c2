/**
 * The browser demo at `/`: the static files `npm run build:web` writes to web/dist (the UI
 * with the client SDK bundled). A server started without them still runs, and answers `/`
 * with how to build them instead of a 404. Pages go out with a strict Content-Security-Policy
 * (security-headers.ts): only the bundle's own script, never framed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { pageCsp } from '../security-headers.ts';

export interface WebOptions {
  /** Directory of the built demo; default web/dist of this checkout (the same from src/ and dist/). */
  root?: string;
  /** PUBLIC_URL: media may come from there. */
  publicUrl?: string | undefined;
}

export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../../web/dist/', import.meta.url));

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tremolo</title></head>
<body>
<h1>tremolo is running</h1>
<p>The web demo has not been built in this installation. Run <code>npm run build:web</code>
(it needs the dev dependencies: <code>npm install</code>) and restart the server;
<code>npm start</code> does both.</p>
<p>The API is here all the same: <a href="/docs">/docs</a>, <a href="/healthz">/healthz</a>.</p>
</body></html>
`;

export async function webRoutes(app: FastifyInstance, opts: WebOptions): Promise<void> {
  const root = opts.root ?? DEFAULT_WEB_ROOT;
  // the page's buttons (like, follow) act as the signed-in user: never framed, no foreign script
  const csp = pageCsp(opts.publicUrl);
  if (!existsSync(join(root, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.type('text/html; charset=utf-8').header('content-security-policy', csp).send(NOT_BUILT),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    // one route per built file, found now: no catch-all, so unknown paths keep the API's 404 body
    wildcard: false,
    index: 'index.html',
    setHeaders: (res, path) => {
      // the page names its bundle with a content hash; the page itself must always be revalidated
      if (path.endsWith('.html')) res.header('cache-control', 'no-cache').header('content-security-policy', csp);
    },
  });
}
