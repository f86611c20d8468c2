import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { Tremolo } from '../../src/main.ts';
import { freePort } from '../helpers/redis.ts';
import { startServer } from '../helpers/server.ts';

const BIN = new URL('../../bin/tremolo.js', import.meta.url).pathname;

/** Runs the real CLI in a child process (asynchronously: the server under test shares this event loop). */
function healthcheck(...args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'healthcheck', ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: (stdout + stderr).trim() });
    });
  });
}

describe('tremolo healthcheck', () => {
  let server: Tremolo;
  let fake: Server;
  let fakePort = 0;
  let answer: { status: number; body: string } = { status: 200, body: '{}' };
  before(async () => {
    server = await startServer();
    fake = createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    fakePort = (fake.address() as AddressInfo).port;
  });
  after(async () => {
    fake.closeAllConnections();
    fake.close();
    await server.close();
  });

  it('exits 0 against a serving tremolo', async () => {
    const r = await healthcheck('--target', new URL(server.url).host, '--timeout', '5s');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^UP/);
  });

  it('exits non-zero with a one-line reason: refused', async () => {
    const r = await healthcheck('--target', `127.0.0.1:${await freePort()}`);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /^refused/);
    assert.equal(r.out.split('\n').length, 1);
  });

  it('exits non-zero on DOWN, wrong status, non-JSON and timeout', async () => {
    answer = { status: 503, body: JSON.stringify({ status: 'DOWN' }) };
    assert.match((await healthcheck('--target', `127.0.0.1:${fakePort}`)).out, /^DOWN/);
    answer = { status: 500, body: JSON.stringify({ status: 'UP' }) };
    const wrong = await healthcheck('--target', `127.0.0.1:${fakePort}`);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.out, /^wrong status code: HTTP 500/);
    answer = { status: 200, body: '<html>' };
    assert.match((await healthcheck('--target', `127.0.0.1:${fakePort}`)).out, /^non-JSON/);
    const slow = await healthcheck('--target', `127.0.0.1:${fakePort}`, '--path', '/slow', '--timeout', '300ms');
    assert.notEqual(slow.code, 0);
    assert.match(slow.out, /^timeout/);
  });

  it('reports DOWN from /readyz of a server whose storage is gone', async () => {
    const { startRedis } = await import('../helpers/redis.ts');
    const redis = await startRedis();
    const s = await startServer({ STORAGE: 'redis', REDIS_URL: redis.url, STORAGE_TIMEOUT: '300ms' });
    try {
      assert.equal((await healthcheck('--target', new URL(s.url).host, '--path', '/readyz')).code, 0);
      await redis.stop();
      const r = await healthcheck('--target', new URL(s.url).host, '--path', '/readyz');
      assert.notEqual(r.code, 0);
      assert.match(r.out, /^DOWN/);
    } finally {
      await s.close();
      await redis.stop();
    }
  });
});
