/**
 * Every answer is the catalog's `{ error: { code, message } }`, whoever refuses the request:
 * node's HTTP parser, fastify's router, a draining server, schema validation (JSON types
 * are not coerced), the domain's text rules (over REST and the socket), the storage
 * drivers (hostile cursors, memory and Redis) and tus. Plain clients only: fetch, and
 * node:net for requests fetch refuses to send.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import { ERROR_CATALOG, isErrorCode } from '../../src/protocol/errors.ts';
import { clientErrorResponse } from '../../src/transport/http/client-errors.ts';
import { connectRedis, dropPrefix, randomPrefix } from '../helpers/redis.ts';
import { liveClient, newUser, startServer } from '../helpers/server.ts';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `request` as raw bytes on a fresh connection and reads the answer until the server closes it. */
function rawRequest(url: string, request: string): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {}); // a reset after the answer still leaves the answer to read
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
  });
}

/** Asserts a catalog body: exactly `{ error: { code, message[, details] } }` with `code`, and returns it. */
function assertCatalog(answer: { status: number; body: string }, code: string, status: number = ERROR_CATALOG[code as keyof typeof ERROR_CATALOG].status) {
  let parsed: unknown;
  assert.doesNotThrow(() => (parsed = JSON.parse(answer.body)), `a JSON body, got ${JSON.stringify(answer.body)}`);
  const body = parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } };
  assert.deepEqual(Object.keys(body), ['error'], answer.body);
  assert.ok(isErrorCode(body.error?.code), `a catalog code in ${answer.body}`);
  assert.equal(body.error?.code, code, answer.body);
  assert.equal(typeof body.error?.message, 'string');
  assert.deepEqual(
    Object.keys(body.error!).filter((k) => k !== 'details'),
    ['code', 'message'],
  );
  assert.equal(answer.status, status, answer.body);
  return body.error as { code: string; message: string; details?: { field?: string } };
}

const http11 = (line: string, headers: string[] = []) => [line, 'Host: localhost', ...headers, 'Connection: close', '', ''].join('\r\n');

describe('requests refused before any route runs', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  it('bad percent-encoding in the path: 400 E_MALFORMED_REQUEST, not FST_ERR_BAD_URL', async () => {
    for (const path of ['/v1/videos/%E0%A4%A', '/%', '/v1/users/%C0%AF']) {
      const answer = await rawRequest(server.url, http11(`GET ${path} HTTP/1.1`));
      assertCatalog(answer, 'E_MALFORMED_REQUEST');
      assert.doesNotMatch(answer.body, /FST_|statusCode/);
      assert.ok(answer.headers['x-request-id'], 'carries a request id');
    }
  });

  it('an over-long path parameter: 414 E_URI_TOO_LONG, without echoing the path', async () => {
    for (const length of [101, 5000]) {
      const answer = await rawRequest(server.url, http11(`GET /v1/videos/${'a'.repeat(length)} HTTP/1.1`));
      assertCatalog(answer, 'E_URI_TOO_LONG');
      assert.doesNotMatch(answer.body, /aaaa|FST_/);
    }
  });

  it('a 20 KB header: 431 E_HEADERS_TOO_LARGE', async () => {
    const answer = await rawRequest(server.url, http11('GET /healthz HTTP/1.1', [`X-Big: ${'a'.repeat(20_000)}`]));
    assertCatalog(answer, 'E_HEADERS_TOO_LARGE');
    assert.equal(answer.headers.connection, 'close');
  });

  it('malformed requests: 400 E_MALFORMED_REQUEST from node\'s parser', async () => {
    const malformed = [
      'GARBAGE\r\n\r\n',
      'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n', // lower-case method
      'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad\u0001: y\r\n\r\n', // control character in a header name
      'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', // smuggling shape
      'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', // an h2 preface on the HTTP/1 port
    ];
    for (const request of malformed) {
      const answer = await rawRequest(server.url, request);
      assertCatalog(answer, 'E_MALFORMED_REQUEST');
      assert.doesNotMatch(answer.body, /Client Error|statusCode/, JSON.stringify(request));
    }
  });

  it('an HTTP/1.1 request without Host: 400 E_MALFORMED_REQUEST (node answered with no body)', async () => {
    const answer = await rawRequest(server.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    assertCatalog(answer, 'E_MALFORMED_REQUEST');
    // HTTP/1.0 has no Host requirement
    const old = await rawRequest(server.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(old.status, 200);
  });

  it('an unsupported Expect: 417 E_EXPECTATION_FAILED (node answered with no body)', async () => {
    const answer = await rawRequest(server.url, http11('POST /v1/users HTTP/1.1', ['Expect: 100-banana', 'Content-Length: 0']));
    assertCatalog(answer, 'E_EXPECTATION_FAILED');
  });

  it('a request that does not arrive in time gets 408 E_REQUEST_TIMEOUT', () => {
    // node's request timer runs on its own 30 s check interval, so the answer it triggers is checked directly
    const text = clientErrorResponse(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(head!, new RegExp(`Content-Length: ${Buffer.byteLength(body!)}`));
    assertCatalog({ status: 408, body: body! }, 'E_REQUEST_TIMEOUT');
  });
});

describe('a draining server', () => {
  it('answers requests still arriving on an open connection with 503 E_SHUTTING_DOWN', async () => {
    const server = await startServer();
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    let text = '';
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => pattern.test(text) && resolve();
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
          check();
        });
      });
    // a request whose body is still to come keeps the connection busy through close();
    // "100 Continue" says the server has it
    const body = JSON.stringify({ handle: 'somebody', password: '12345678' });
    const continued = seen(/100 Continue/);
    socket.write(`POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await continued;
    const closing = server.close();
    // the body, then a second request pipelined behind it
    socket.write(`${body}GET /v1/feed/hot HTTP/1.1\r\nHost: x\r\n\r\n`);
    await Promise.all([closed, closing]);
    const last = text.split(/(?=HTTP\/1\.1 )/).at(-1)!;
    assertCatalog({ status: Number(last.split(' ')[1]), body: last.slice(last.indexOf('\r\n\r\n') + 4) }, 'E_SHUTTING_DOWN');
    assert.match(last, /\r\nretry-after: 1\r\n/i);
    assert.doesNotMatch(text, /"statusCode"/);
  });
});

/** For a describe block: a server with one signed-in user and a video of theirs, and a JSON POST. */
function userWithVideo(title: string) {
  const w = {
    server: undefined as unknown as Tremolo,
    token: '',
    videoId: '',
    /** POSTs a raw JSON body, signed in unless `auth` is false; answers status and body text. */
    post: async (path: string, body: string, auth = true) => {
      const res = await fetch(new URL(path, w.server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${w.token}` } : {}) },
        body,
      });
      return { status: res.status, body: await res.text() };
    },
  };
  before(async () => {
    w.server = await startServer();
    const user = await newUser(w.server);
    w.token = user.token;
    w.videoId = (await user.http.createVideo({ title })).id;
  });
  after(() => w.server.close());
  return w;
}

describe('JSON bodies are not coerced', () => {
  const w = userWithVideo('typed');
  const post = w.post;
  const answer = async (res: Response) => ({ status: res.status, body: await res.text() });

  it('refuses wrong JSON types with E_VALIDATION naming the field', async () => {
    const cases: [string, string, string][] = [
      ['/v1/videos', '{"title":12}', 'title'],
      ['/v1/videos', '{"title":true}', 'title'],
      ['/v1/videos', '{"title":["a"]}', 'title'],
      ['/v1/videos', '{"title":null}', 'title'],
      ['/v1/videos', '{"title":"ok","description":5}', 'description'],
      [`/v1/videos/${w.videoId}/comments`, '{"text":12}', 'text'],
      [`/v1/videos/${w.videoId}/comments`, '{"text":["hi"]}', 'text'],
      [`/v1/videos/${w.videoId}/comments`, '{"text":"hi","idempotencyKey":7}', 'idempotencyKey'],
      ['/v1/jobs', '{"uploadId":5}', 'uploadId'],
    ];
    for (const [path, body, field] of cases) {
      const error = assertCatalog(await (await post(path, body)), 'E_VALIDATION');
      assert.equal(error.details?.field, field, `${path} ${body}`);
    }
    const users: [string, string][] = [
      ['{"handle":"typed_user","password":12345678}', 'password'],
      ['{"handle":["typed_user"],"password":"12345678"}', 'handle'],
      ['{"handle":"typed_user","password":"12345678","displayName":5}', 'displayName'],
    ];
    for (const [body, field] of users) {
      const error = assertCatalog(await (await post('/v1/users', body, false)), 'E_VALIDATION');
      assert.equal(error.details?.field, field, body);
    }
    const login = assertCatalog(await (await post('/v1/sessions', '{"handle":"typed_user","password":12345678}', false)), 'E_VALIDATION');
    assert.equal(login.details?.field, 'password');
  });

  it('refuses bodies that are not objects', async () => {
    for (const body of ['true', '["a"]', '12', '"title"', 'null']) {
      assertCatalog(await (await post('/v1/videos', body)), 'E_VALIDATION');
      assertCatalog(await (await post('/v1/users', body, false)), 'E_VALIDATION');
    }
  });

  it('still reads numbers from the querystring and strings from the path', async () => {
    const hot = await fetch(new URL('/v1/feed/hot?limit=1', w.server.url));
    assert.equal(hot.status, 200);
    assert.ok(((await hot.json()) as { items: unknown[] }).items.length <= 1);
    const comments = await fetch(new URL(`/v1/videos/${w.videoId}/comments?limit=5&order=oldest`, w.server.url));
    assert.equal(comments.status, 200);
    assertCatalog(await answer(await fetch(new URL('/v1/feed/hot?limit=abc', w.server.url))), 'E_VALIDATION');
    assertCatalog(await answer(await fetch(new URL('/v1/feed/hot?limit=0', w.server.url))), 'E_VALIDATION');
    const created = await post('/v1/videos', '{"title":"a real title","description":"text"}');
    assert.equal(created.status, 201);
  });
});

describe('text made only of invisible characters', () => {
  const w = userWithVideo('visible');
  const post = (path: string, body: unknown, auth = true) => w.post(path, JSON.stringify(body), auth);
  const invisible = ['\u200B', '\u2060', '\u200B\u2060', '\u0301', '\u200B \u0301 \u2060', '\uFEFF', '\u3164', '\u2800'];

  it('refuses such titles, descriptions, comments and display names over REST with E_VALIDATION', async () => {
    for (const text of invisible) {
      const what = JSON.stringify(text);
      assert.equal(assertCatalog(await post('/v1/videos', { title: text }), 'E_VALIDATION').details?.field, 'title', what);
      // (a description that trims to nothing, like U+FEFF, is just empty)
      if (text.trim() !== '') {
        assert.equal(assertCatalog(await post('/v1/videos', { title: 'ok', description: text }), 'E_VALIDATION').details?.field, 'description', what);
      }
      assert.equal(assertCatalog(await post(`/v1/videos/${w.videoId}/comments`, { text }), 'E_VALIDATION').details?.field, 'text', what);
      const handle = `inv${Math.floor(Math.random() * 1e9)}`;
      assert.equal(assertCatalog(await post('/v1/users', { handle, password: 'correct horse', displayName: text }, false), 'E_VALIDATION').details?.field, 'displayName', what);
    }
  });

  it('accepts visible text that carries such characters', async () => {
    for (const title of ['e\u0301', 'a\u200Bb', '\u{1F469}\u200D\u{1F4BB}']) {
      const res = await post('/v1/videos', { title });
      assert.equal(res.status, 201, res.body);
      assert.equal((JSON.parse(res.body) as { title: string }).title, title);
    }
  });

  it('refuses invisible comments over the socket with a failed E_VALIDATION ack (the same rule)', async () => {
    const live = await liveClient(w.server, { token: w.token });
    try {
      await live.watch(w.videoId);
      for (const text of invisible) {
        await assert.rejects(
          live.comment(w.videoId, text),
          (e: { code: string }) => e.code === 'E_VALIDATION',
          JSON.stringify(text),
        );
      }
      const ok = await live.comment(w.videoId, 'still works');
      assert.equal(ok.comment.text, 'still works');
    } finally {
      live.close();
    }
  });
});

for (const driver of ['memory', 'redis'] as const) {
  describe(`hostile cursors (${driver})`, () => {
    let server: Tremolo;
    const prefix = randomPrefix('errors');
    before(async () => {
      server = await startServer(driver === 'redis' ? { STORAGE: 'redis', REDIS_PREFIX: prefix } : {});
    });
    after(async () => {
      await server.close();
      if (driver === 'redis') {
        const redis = await connectRedis();
        await dropPrefix(redis, prefix);
        await redis.quit();
      }
    });
    const cursorOf = (position: unknown) => Buffer.from(JSON.stringify([position])).toString('base64url');
    const get = async (path: string) => {
      const res = await fetch(new URL(path, server.url));
      return { status: res.status, body: await res.text() };
    };

    it('GET /v1/feed/hot with a cursor of [1e21] (and other non-places) answers 400 E_BAD_CURSOR', async () => {
      // the hot cursor is a place in the ranking, `<score>|<id>`: numbers (offsets) and broken places are refused
      for (const position of [1e21, 2 ** 63, 1e300, 2 ** 53, -1, 0.5, '20', 'x|0000000000000', 'NaN|0000000000000', '1e999|0000000000000', '1|nope', '|0000000000000']) {
        assertCatalog(await get(`/v1/feed/hot?cursor=${cursorOf(position)}`), 'E_BAD_CURSOR');
      }
      // not a JSON number at all: 1e999 parses as Infinity
      assertCatalog(await get(`/v1/feed/hot?cursor=${Buffer.from('[1e999]').toString('base64url')}`), 'E_BAD_CURSOR');
      const past = await get(`/v1/feed/hot?cursor=${cursorOf(`${-Number.MAX_VALUE}|0000000000000`)}`);
      assert.equal(past.status, 200, past.body);
      assert.deepEqual(JSON.parse(past.body), { items: [] });
    });

    it('malformed cursors on every list answer 400 E_BAD_CURSOR', async () => {
      const { id } = await newUser(server);
      for (const path of ['/v1/feed/hot', `/v1/users/${id}/followers`, `/v1/users/${id}/videos`, '/v1/tags/nothing/videos']) {
        assertCatalog(await get(`${path}?cursor=bm90IGpzb24`), 'E_BAD_CURSOR');
      }
    });
  });
}

describe('tus failures', () => {
  let server: Tremolo;
  let dataDir: string;
  let token: string;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tremolo-errors-'));
    server = await startServer({ DATA_DIR: dataDir, WORKER_THREADS: '1' });
    token = (await newUser(server)).token;
  });
  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const tus = (method: string, url: string, headers: Record<string, string> = {}, body?: Buffer) =>
    fetch(url, { method, headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', ...headers }, ...(body ? { body: new Uint8Array(body) } : {}) });
  const create = async (): Promise<string> => {
    const res = await tus('POST', `${server.url}/v1/uploads`, {
      'upload-length': '10',
      'upload-metadata': `title ${Buffer.from('clip').toString('base64')}`,
    });
    assert.equal(res.status, 201, await res.text());
    return new URL(res.headers.get('location')!, server.url).href;
  };

  it('a tus 500 answers E_INTERNAL with the catalog message, never tus\'s internal text', async () => {
    const url = await create();
    const id = url.split('/').pop()!;
    // the upload's file becomes a symlink loop: stat fails with ELOOP inside @tus/file-store
    const file = join(dataDir, 'uploads', id);
    await unlink(file);
    await symlink(file, file);
    const res = await tus('PATCH', url, { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, Buffer.alloc(10));
    const answer = { status: res.status, body: await res.text() };
    const error = assertCatalog(answer, 'E_INTERNAL', 500);
    assert.equal(error.message, ERROR_CATALOG.E_INTERNAL.message);
    assert.doesNotMatch(answer.body, /ELOOP|Something went wrong|uploads|tremolo-errors-/);
    await unlink(file);
  });

  it("tus's refusals keep their status and carry a catalog code and our message", async () => {
    const url = await create();
    const cases: [Promise<Response>, number, string][] = [
      [tus('PATCH', url, { 'upload-offset': '5', 'content-type': 'application/offset+octet-stream' }, Buffer.alloc(1)), 409, 'E_VALIDATION'],
      [tus('PATCH', url, { 'content-type': 'application/offset+octet-stream' }, Buffer.alloc(1)), 403, 'E_VALIDATION'],
      // (text/plain was a 500: fastify read the body, then handing it to tus threw)
      [tus('PATCH', url, { 'upload-offset': '0', 'content-type': 'text/plain' }, Buffer.alloc(1)), 400, 'E_UNSUPPORTED_MEDIA_TYPE'],
      [tus('PATCH', url, { 'upload-offset': '0' }, Buffer.alloc(1)), 415, 'E_UNSUPPORTED_MEDIA_TYPE'],
      [tus('POST', `${server.url}/v1/uploads`, { 'upload-length': '10', 'upload-metadata': 'title !!!,title x' }), 400, 'E_VALIDATION'],
      [fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'upload-length': '10' } }), 412, 'E_VALIDATION'],
      [tus('PATCH', url, { 'upload-offset': 'abc', 'content-type': 'application/offset+octet-stream' }, Buffer.alloc(1)), 400, 'E_VALIDATION'],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      const answer = { status: res.status, body: await res.text() };
      assertCatalog(answer, code, status);
      assert.doesNotMatch(answer.body, /\\n|header required|Upload-Metadata is invalid/, answer.body);
    }
  });

  it('refuses an upload titled only with invisible characters at creation', async () => {
    const res = await tus('POST', `${server.url}/v1/uploads`, {
      'upload-length': '10',
      'upload-metadata': `title ${Buffer.from('\u200B\u2060').toString('base64')}`,
    });
    const error = assertCatalog({ status: res.status, body: await res.text() }, 'E_VALIDATION');
    assert.equal(error.details?.field, 'title');
    assert.deepEqual((await readdir(join(dataDir, 'uploads'))).filter((f) => !f.endsWith('.json') && !f.includes('-')), []);
  });
});
