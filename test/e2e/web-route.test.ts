/**
 * The route that serves the web demo: the built files at `/`, a clear page when there is
 * no build, and the API's own 404 for everything else either way.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { startServer } from '../helpers/server.ts';
import { createHttpServer } from '../../src/transport/http/server.ts';
import { webRoutes } from '../../src/transport/http/routes/web.ts';
import { loadConfig } from '../../src/config.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { RateLimits } from '../../src/transport/http/rate-limits.ts';
import { MemoryRateLimitStore } from '../../src/storage/rate-limits.ts';
import { OriginPolicy } from '../../src/transport/http/origins.ts';

async function appServing(root: string) {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const app = createHttpServer({
    config,
    tokens: new TokenService({ secret: config.jwtSecret, issuer: 'tremolo', audience: 'tremolo', ttlS: 60 }),
    limits: new RateLimits({ ipPerMin: 1000, userPerMin: 1000, loginPerMin: 1000, counters: new MemoryRateLimitStore() }),
    origins: new OriginPolicy({ listed: [] }),
    logger: false,
  });
  await app.register(webRoutes, { root });
  await app.ready();
  return app;
}

describe('web route', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('tremolo-web-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('serves a build: index at /, the bundle, no-cache on the page', async () => {
    const root = join(dir, 'built');
    await mkdir(root);
    await writeFile(join(root, 'index.html'), '<!doctype html><script src="app.js"></script>');
    await writeFile(join(root, 'app.js'), 'console.log("hi")');
    const app = await appServing(root);
    try {
      const page = await app.inject({ url: '/' });
      assert.equal(page.statusCode, 200);
      assert.match(page.headers['content-type'] as string, /text\/html/);
      assert.equal(page.headers['cache-control'], 'no-cache');
      assert.match(page.body, /app\.js/);
      const js = await app.inject({ url: '/app.js' });
      assert.equal(js.statusCode, 200);
      assert.match(js.headers['content-type'] as string, /javascript/);
      const missing = await app.inject({ url: '/v1/nothing-here' });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json<{ error: { code: string } }>().error.code, 'E_ROUTE_NOT_FOUND');
      assert.equal((await app.inject({ url: '/../package.json' })).statusCode, 404);
    } finally {
      await app.close();
    }
  });

  it('without a build, / says how to build one and the server still starts', async () => {
    const app = await appServing(join(dir, 'absent'));
    try {
      const page = await app.inject({ url: '/' });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /npm run build:web/);
      assert.equal(JSON.parse((await app.inject({ url: '/app.js' })).body).error.code, 'E_ROUTE_NOT_FOUND');
    } finally {
      await app.close();
    }
  });

  it('is part of every server: / answers with HTML, the API keeps its JSON 404', async () => {
    const server = await startServer();
    try {
      const res = await fetch(server.url);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      const missing = await fetch(new URL('/v1/nope', server.url));
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'E_ROUTE_NOT_FOUND');
    } finally {
      await server.close();
    }
  });
});
