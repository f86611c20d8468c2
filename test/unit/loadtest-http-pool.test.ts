/**
 * The load tester's REST transport (src/loadtest/http-pool.ts) behind the SDK's HttpClient:
 * answers and error bodies read as over fetch, connections kept alive and reused, and a
 * failure below HTTP rejected as a TypeError, which the shard's reroute rule relies on.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpClient } from '../../src/client/http-client.ts';
import { TremoloClientError } from '../../src/client/live-client.ts';
import { createHttpPool } from '../../src/loadtest/http-pool.ts';

describe('loadtest REST keep-alive pool', () => {
  let server: Server;
  let base: string;
  const peers = new Set<number>();
  const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      peers.add(req.socket.remotePort ?? 0);
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
        if (req.url?.startsWith('/v1/videos/missing')) {
          res.writeHead(404, { 'content-type': 'application/json', 'retry-after': '3' });
          res.end(JSON.stringify({ error: { code: 'E_VIDEO_NOT_FOUND', message: 'no such video' } }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'v1', echo: body ? JSON.parse(body) : null, big: 'x'.repeat(100_000) }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('sends what fetch sends and reads answers, error codes and headers alike, over one kept-alive connection', async () => {
    const pool = createHttpPool();
    try {
      const http = new HttpClient(base, { token: 'tok', transport: pool.transport });
      const video = (await http.getVideo('v1')) as unknown as { id: string; big: string };
      assert.equal(video.id, 'v1');
      assert.equal(video.big.length, 100_000); // a body in several chunks
      const created = (await http.comment('v1', 'hello', { idempotencyKey: 'k1' })) as unknown as { echo: unknown };
      assert.deepEqual(created.echo, { text: 'hello', idempotencyKey: 'k1' });
      await assert.rejects(http.getVideo('missing'), (err: unknown) => {
        assert.ok(err instanceof TremoloClientError);
        assert.equal(err.code, 'E_VIDEO_NOT_FOUND');
        assert.equal((err as unknown as { status: number; retryAfter: string }).status, 404);
        assert.equal((err as unknown as { retryAfter: string }).retryAfter, '3');
        return true;
      });
      assert.deepEqual(
        seen.slice(-3).map((s) => [s.method, s.url, s.auth]),
        [
          ['GET', '/v1/videos/v1', 'Bearer tok'],
          ['POST', '/v1/videos/v1/comments', 'Bearer tok'],
          ['GET', '/v1/videos/missing', 'Bearer tok'],
        ],
      );
      assert.equal(peers.size, 1, 'sequential requests reuse one connection');
    } finally {
      pool.close();
    }
  });

  it('rejects with a TypeError when nothing listens, as fetch does', async () => {
    const pool = createHttpPool();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    try {
      await assert.rejects(new HttpClient(`http://127.0.0.1:${port}`, { transport: pool.transport }).hot(), TypeError);
    } finally {
      pool.close();
    }
  });
});
