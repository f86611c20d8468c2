/**
 * HTTP/2: with TLS_CERT/TLS_KEY the port offers h2 and http/1.1 by ALPN; HTTP2_CLEARTEXT=true
 * serves h2c with prior knowledge. Checked with real HTTP/2 clients (node's http2 client and
 * curl --http2 / --http2-prior-knowledge): the API, media Range requests, a tus upload and the
 * demo page over h2, and Socket.IO (WebSocket and long polling) on the same TLS port. The
 * certificate is made for the test with openssl (no key is committed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { io } from 'socket.io-client';
import type { Tremolo } from '../../src/main.ts';
import { MediaSigner } from '../../src/transport/media/signing.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { grpcClient } from '../helpers/grpc.ts';
import { startServer } from '../helpers/server.ts';
import { TEST_SERVER_ENV } from '../helpers/server-env.ts';

const run = promisify(execFile);

interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request on an HTTP/2 session. */
function h2(session: ClientHttp2Session, path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ [constants.HTTP2_HEADER_METHOD]: init.method ?? 'GET', [constants.HTTP2_HEADER_PATH]: path, ...init.headers });
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.end(init.body);
  });
}

const json = <T>(a: H2Answer) => JSON.parse(a.body.toString()) as T;

/** curl's answer: the HTTP version it spoke, the status and the body. */
async function curl(args: string[]): Promise<{ version: string; status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_version} %{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  const [version = '', status = '0'] = stdout.slice(cut + 1).split(' ');
  return { version, status: Number(status), body: stdout.slice(0, cut) };
}

describe('HTTP/2 over TLS (ALPN h2 + http/1.1)', () => {
  let dir: string;
  let cert: string;
  let server: Tremolo;
  let session: ClientHttp2Session;
  let token: string;

  before(async () => {
    dir = await tempDir('tremolo-h2-');
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    cert = join(dir, 'cert.pem');
    server = await startServer({ TLS_CERT: cert, TLS_KEY: join(dir, 'key.pem'), DATA_DIR: join(dir, 'data'), WORKER_THREADS: '1', GRPC_PORT: '0' });
    assert.match(server.url, /^https:/);
    session = connect(server.url, { ca: await readFile(cert) });
    const signup = await h2(session, '/v1/users', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handle: `h2user${process.pid}`, password: 'correct horse battery' }),
    });
    assert.equal(signup.status, 201, signup.body.toString());
    token = json<{ token: string }>(signup).token;
  });
  after(async () => {
    session.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates h2 by ALPN and serves the API over it: many streams on one connection', async () => {
    assert.equal(session.alpnProtocol, 'h2');
    const created = await h2(session, '/v1/videos', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ title: 'over h2' }),
    });
    assert.equal(created.status, 201, created.body.toString());
    const { id } = json<{ id: string }>(created);
    // 20 concurrent requests multiplexed on the one session
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2 ? h2(session, `/v1/videos/${id}`) : h2(session, `/v1/videos/${id}/like`, { method: i === 0 ? 'POST' : 'GET', headers: { authorization: `Bearer ${token}` } }),
      ),
    );
    assert.equal(answers[0]!.status, 200);
    for (const a of answers.filter((_, i) => i % 2)) {
      assert.equal(a.status, 200);
      assert.equal(json<{ id: string }>(a).id, id);
      assert.ok(a.headers['x-request-id'], 'the same headers as over HTTP/1.1');
    }
    const missing = await h2(session, '/v1/videos/0000000000000');
    assert.equal(missing.status, 404);
    assert.equal(json<{ error: { code: string } }>(missing).error.code, 'E_VIDEO_NOT_FOUND');
  });

  it('curl speaks HTTP/2 and HTTP/1.1 to the same port', async () => {
    const two = await curl(['--http2', '--cacert', cert, `${server.url}/healthz`]);
    assert.equal(two.version, '2');
    assert.equal(two.status, 200);
    const one = await curl(['--http1.1', '--cacert', cert, `${server.url}/healthz`]);
    assert.equal(one.version, '1.1');
    assert.equal(one.status, 200);
  });

  it('serves the demo page over h2', async () => {
    const page = await curl(['--http2', '--cacert', cert, `${server.url}/`]);
    assert.equal(page.version, '2');
    assert.equal(page.status, 200);
    assert.match(page.body, /<html/i);
  });

  it('serves media Range requests over h2 (206 with Content-Range)', async () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
    await mkdir(join(dir, 'data', 'media', 'h2clip'), { recursive: true });
    await writeFile(join(dir, 'data', 'media', 'h2clip', 'video.mp4'), bytes);
    const signer = new MediaSigner({ secret: TEST_SERVER_ENV.MEDIA_SECRET!, ttlS: 300 });
    const url = signer.sign('/media/h2clip/video.mp4');
    const part = await h2(session, url, { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206, part.body.toString());
    assert.equal(part.headers['content-range'], 'bytes 100-199/4096');
    assert.deepEqual(part.body, bytes.subarray(100, 200));
    const viaCurl = await curl(['--http2', '--cacert', cert, '-r', '4000-4095', '-o', '/dev/null', `${server.url}${url}`]);
    assert.equal(viaCurl.version, '2');
    assert.equal(viaCurl.status, 206);
    const unsatisfiable = await h2(session, url, { headers: { range: 'bytes=5000-6000' } });
    assert.equal(unsatisfiable.status, 416);
  });

  it('takes a tus upload over h2: create, patch in two parts, head', async () => {
    const data = Buffer.alloc(3000, 7);
    const auth = { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' };
    const created = await h2(session, '/v1/uploads', {
      method: 'POST',
      headers: { ...auth, 'upload-length': String(data.length), 'upload-metadata': `title ${Buffer.from('h2 upload').toString('base64')},filename ${Buffer.from('a.mp4').toString('base64')}` },
    });
    assert.equal(created.status, 201, created.body.toString());
    const location = new URL(String(created.headers.location), server.url).pathname;
    const patch = (offset: number, part: Buffer) =>
      h2(session, location, { method: 'PATCH', headers: { ...auth, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }, body: part });
    const first = await patch(0, data.subarray(0, 1000));
    assert.equal(first.status, 204, first.body.toString());
    assert.equal(first.headers['upload-offset'], '1000');
    const head = await h2(session, location, { method: 'HEAD', headers: auth });
    assert.equal(head.headers['upload-offset'], '1000');
    const second = await patch(1000, data.subarray(1000));
    assert.equal(second.headers['upload-offset'], '3000');
  });

  it('serves gRPC over TLS with the same certificate', async () => {
    const signedIn = json<{ token: string; user: { id: string } }>(
      await h2(session, '/v1/sessions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ handle: `h2user${process.pid}`, password: 'correct horse battery' }),
      }),
    );
    const grpc = grpcClient(`127.0.0.1:${server.grpc!.port}`, { rootCert: await readFile(cert, 'utf8'), token: signedIn.token });
    const me = await grpc.call<{ id: string; handle: string }>('GetUser', { userId: signedIn.user.id });
    assert.equal(me.handle, `h2user${process.pid}`);
    grpc.close();
    const plain = grpcClient(`127.0.0.1:${server.grpc!.port}`, { token: signedIn.token });
    await assert.rejects(plain.call('GetUser', { userId: signedIn.user.id }, { deadline: Date.now() + 3000 }), { code: status.UNAVAILABLE });
    plain.close();
  });

  it('Socket.IO connects on the same TLS port, over WebSocket and over long polling', async () => {
    const ca = await readFile(cert, 'utf8');
    for (const transports of [['websocket'], ['polling']]) {
      const socket = io(server.url, { transports, ca, forceNew: true, reconnection: false });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      assert.equal(socket.io.engine.transport.name, transports[0]);
      socket.close();
    }
  });
});

describe('h2c (HTTP2_CLEARTEXT=true)', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer({ HTTP2_CLEARTEXT: 'true' });
  });
  after(async () => {
    await server.close();
  });

  it('serves HTTP/2 with prior knowledge, to node and to curl', async () => {
    const session = connect(server.url);
    const health = await h2(session, '/healthz');
    assert.equal(health.status, 200);
    const missing = await h2(session, '/v1/nothing');
    assert.equal(json<{ error: { code: string } }>(missing).error.code, 'E_ROUTE_NOT_FOUND');
    // Socket.IO's long polling handshake answers over h2c (a proxy speaking h2c to us carries it)
    const handshake = await h2(session, '/socket.io/?EIO=4&transport=polling');
    assert.equal(handshake.status, 200, handshake.body.toString());
    assert.match(handshake.body.toString(), /^0\{"sid":"/);
    session.close();
    const viaCurl = await curl(['--http2-prior-knowledge', `${server.url}/healthz`]);
    assert.equal(viaCurl.version, '2');
    assert.equal(viaCurl.status, 200);
  });
});
