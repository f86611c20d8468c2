/**
 * Issue 13, finding 10: the web and ops surface. The attacks: framing the demo page (its
 * Like and Follow buttons act as the signed-in user), a page of any site talking to the
 * API and the sockets (Socket.IO reflected any Origin, with credentials), reading the
 * public, unlimited /metrics, and filling the error log with client mistakes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import { TremoloClientError } from '../../src/client/index.ts';
import { spawnServer } from '../helpers/process.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example';
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe('web surface', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer({ CORS_ORIGINS: APP });
  });
  after(() => server.close());
  const at = (path: string) => new URL(path, server.url);

  it('the demo page may not be framed and runs only its own scripts; every answer has nosniff and no referrer', async () => {
    const page = await fetch(at('/'));
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    for (const res of [page, await fetch(at('/v1/feed/hot')), await fetch(at('/v1/nope'))]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', res.url);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', res.url);
      assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, res.url);
    }
  });

  it('REST: CORS only for CORS_ORIGINS, never with credentials; preflights of other sites get E_ORIGIN_NOT_ALLOWED', async () => {
    const preflight = (origin: string) =>
      fetch(at('/v1/videos'), {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const ok = await preflight(APP);
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), APP);
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
    assert.equal(ok.headers.get('access-control-allow-credentials'), null);
    const refused = await preflight(EVIL);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    assert.equal(await errorCode(refused), 'E_ORIGIN_NOT_ALLOWED');

    const read = await fetch(at('/v1/feed/hot'), { headers: { origin: EVIL } });
    assert.equal(read.headers.get('access-control-allow-origin'), null);
    assert.equal((await fetch(at('/v1/feed/hot'), { headers: { origin: APP } })).headers.get('access-control-allow-origin'), APP);

    // tus answered every origin with `*`
    const { token } = await newUser(server);
    const upload = await fetch(at('/v1/uploads'), {
      method: 'POST',
      headers: { origin: EVIL, authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', 'upload-length': '10', 'upload-metadata': `title ${Buffer.from('t').toString('base64')}` },
    });
    assert.equal(upload.status, 201);
    assert.equal(upload.headers.get('access-control-allow-origin'), null);
  });

  it('sockets: a handshake from another site is refused with E_ORIGIN_NOT_ALLOWED; this site, listed sites and non-browsers connect', async () => {
    const polling = await fetch(at('/socket.io/?EIO=4&transport=polling'), { headers: { origin: EVIL } });
    assert.equal(polling.headers.get('access-control-allow-origin'), null, 'no reflected origin');
    assert.equal(polling.headers.get('access-control-allow-credentials'), null);

    const withOrigin = (origin: string) => ({ socket: { transports: ['websocket'], extraHeaders: { origin } } });
    await assert.rejects(liveClient(server, withOrigin(EVIL)), (e: unknown) => e instanceof TremoloClientError && e.code === 'E_ORIGIN_NOT_ALLOWED');
    await assert.rejects(liveClient(server, withOrigin('null')), (e: unknown) => e instanceof TremoloClientError && e.code === 'E_ORIGIN_NOT_ALLOWED');
    for (const origin of [APP, new URL(server.url).origin]) (await liveClient(server, withOrigin(origin))).close();
    (await liveClient(server)).close();
  });

  it('metrics are not on the public port; they are on a loopback listener', async () => {
    const res = await fetch(at('/metrics'));
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'E_ROUTE_NOT_FOUND');
    assert.ok(server.metricsUrl);
    assert.equal(new URL(server.metricsUrl).hostname, '127.0.0.1');
    assert.notEqual(new URL(server.metricsUrl).port, new URL(server.url).port);
    const scrape = await fetch(server.metricsUrl);
    assert.equal(scrape.status, 200);
    assert.match(await scrape.text(), /process_resident_memory_bytes/);
  });
});

describe('metrics behind METRICS_TOKEN', () => {
  it('needs Authorization: Bearer <METRICS_TOKEN>', async () => {
    const token = 'metrics-token-0123456789abcdef0123';
    const server = await startServer({ METRICS_TOKEN: token });
    try {
      assert.ok(server.metricsUrl);
      const scrape = (auth?: string) => fetch(server.metricsUrl!, auth ? { headers: { authorization: auth } } : {});
      let res = await scrape();
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'E_TOKEN_MISSING');
      res = await scrape(`Bearer ${token}x`);
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'E_TOKEN_INVALID');
      res = await scrape(`Bearer ${token}`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /tremolo_/);
    } finally {
      await server.close();
    }
  });
});

describe('logging', () => {
  it('client-caused 4xx and 501 are logged below error level', async () => {
    const proc = await spawnServer({ LOG_LEVEL: 'debug' });
    try {
      const at = (path: string) => new URL(path, proc.url);
      const { token } = await newUser(proc);
      const auth = { authorization: `Bearer ${token}` };
      const answers = [
        await fetch(at('/v1/users'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"handle": ' }),
        await fetch(at('/v1/users'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }),
        await fetch(at('/v1/nope')),
        await fetch(at('/v1/feed'), { headers: { authorization: 'Bearer nonsense' } }),
        await fetch(at('/media/JOB0000000001/video.mp4?exp=1&sig=x')),
        await fetch(at('/v1/videos/0000000000000')),
        await fetch(at('/v1/videos'), { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'POST' } }),
        // tus: a deferred length is an extension this server does not offer
        await fetch(at('/v1/uploads'), { method: 'POST', headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-defer-length': '1' } }),
      ];
      const statuses = answers.map((r) => r.status);
      assert.ok(statuses.every((s) => (s >= 400 && s < 500) || s === 501), String(statuses));
      assert.ok(statuses.includes(501), String(statuses));
      const lines = () =>
        proc
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { level: number; msg: string; reqId?: string });
      // the requests ran one after another: once the last one's completion is logged, all are
      const lastId = answers.at(-1)?.headers.get('x-request-id');
      await eventually(() => lines().some((l) => l.msg === 'request completed' && l.reqId === lastId), 'the last request in the log');
      assert.deepEqual(
        lines().filter((l) => l.level >= 50),
        [],
        'nothing at error level',
      );
    } finally {
      await proc.stop();
    }
  });
});
