/**
 * Resumable uploads (tus) as a client app would use them, with tus-js-client against a
 * real server: interruption and resume, checksums, authentication, size and quota limits,
 * termination. Media processing is covered in media-pipeline.test.ts; here the uploaded
 * bytes are random, so their jobs end `failed` with E_MEDIA_INVALID (which is checked too).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import * as tus from 'tus-js-client';
import type { Tremolo } from '../../src/main.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { spawnServer } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

let server: Tremolo;
let dataDir: string;
const MAX = 6 * 1024 * 1024;
const QUOTA = 8 * 1024 * 1024;

before(async () => {
  dataDir = await tempDir('tremolo-uploads-');
  server = await startServer({ DATA_DIR: dataDir, UPLOAD_MAX_BYTES: String(MAX), UPLOAD_QUOTA_BYTES: String(QUOTA), WORKER_THREADS: '1' });
});

after(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

interface Done {
  url: string;
  jobId: string | undefined;
}

/** Uploads with tus-js-client; `stopAt` aborts (mid-request) once that many bytes were sent. */
function upload(
  data: Buffer | Readable,
  token: string | undefined,
  opts: { metadata?: Record<string, string>; uploadUrl?: string; chunkSize?: number; size?: number; stopAt?: number; onStart?: (offset: number) => void } = {},
): Promise<Done & { aborted: boolean }> {
  return new Promise((resolve, reject) => {
    let first = true;
    const u: tus.Upload = new tus.Upload(data, {
      endpoint: `${server.url}/v1/uploads`,
      ...(opts.uploadUrl ? { uploadUrl: opts.uploadUrl } : {}),
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      metadata: opts.metadata ?? { title: 'my clip', filename: 'clip.mp4' },
      ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
      ...(data instanceof Readable ? { uploadSize: opts.size } : {}),
      retryDelays: [],
      storeFingerprintForResuming: false,
      onProgress: (sent) => {
        if (first) {
          first = false;
          opts.onStart?.(sent);
        }
        if (opts.stopAt !== undefined && sent >= opts.stopAt) {
          void u.abort().then(() => resolve({ url: u.url ?? '', jobId: undefined, aborted: true }), reject);
        }
      },
      onSuccess: (payload) => resolve({ url: u.url ?? '', jobId: payload.lastResponse.getHeader('Tremolo-Job-Id'), aborted: false }),
      onError: reject,
    });
    u.start();
  });
}

/** The catalog code carried by a tus-js-client error (its response body is our JSON). */
function codeOf(err: unknown): { status: number | undefined; code: string | undefined } {
  const res = (err as { originalResponse?: tus.HttpResponse }).originalResponse;
  if (!res) return { status: undefined, code: undefined };
  const body = JSON.parse(res.getBody()) as { error?: { code?: string } };
  return { status: res.getStatus(), code: body.error?.code };
}

const tusHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' });

async function head(url: string, token: string): Promise<Response> {
  return fetch(url, { method: 'HEAD', headers: tusHeaders(token) });
}

async function job(id: string, token: string): Promise<{ stage: string; error?: { code: string }; uploadId: string }> {
  const res = await fetch(`${server.url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { stage: string; error?: { code: string }; uploadId: string };
}

test('an upload interrupted mid-request resumes where the server left off and arrives byte-identical', async () => {
  const alice = await newUser(server, 'up');
  const data = randomBytes(4 * 1024 * 1024 + 123);
  // Fed slowly, as over a poor connection, so the client can pull the plug mid-request.
  const slow = Readable.from(
    (async function* () {
      for (let at = 0; at < data.length; at += 64 * 1024) {
        await sleep(5);
        yield data.subarray(at, at + 64 * 1024);
      }
    })(),
  );
  const first = await upload(slow, alice.token, { chunkSize: data.length, size: data.length, stopAt: Math.floor(data.length * 0.3) });
  assert.equal(first.aborted, true);
  assert.match(first.url, /\/v1\/uploads\/[A-Za-z0-9]+-[a-f0-9]{32}$/);

  let offset = 0;
  await eventually(async () => {
    const res = await head(first.url, alice.token);
    offset = Number(res.headers.get('upload-offset'));
    return res.status === 200 && offset > 0;
  }, 'part of the upload stored');
  assert.ok(offset < data.length, `interrupted upload is unfinished (offset ${offset})`);
  const h = await head(first.url, alice.token);
  assert.equal(h.headers.get('upload-length'), String(data.length));
  assert.equal(h.headers.get('upload-metadata')?.includes('title'), true);

  let resumedFrom = -1;
  const done = await upload(data, alice.token, { uploadUrl: first.url, onStart: (o) => (resumedFrom = o) });
  assert.equal(done.url, first.url);
  assert.ok(resumedFrom >= offset, `resumed from ${resumedFrom}, not from 0`);
  assert.ok(done.jobId, 'the final PATCH names the job it started');

  const id = first.url.slice(first.url.lastIndexOf('/') + 1);
  const stored = await readFile(join(dataDir, 'uploads', id));
  assert.equal(createHash('sha256').update(stored).digest('hex'), createHash('sha256').update(data).digest('hex'));

  // Random bytes are not a video: the job fails cleanly, with the catalog code.
  await eventually(async () => (await job(done.jobId!, alice.token)).stage === 'failed', 'job failed', 30_000);
  const j = await job(done.jobId!, alice.token);
  assert.equal(j.error?.code, 'E_MEDIA_INVALID');
  assert.equal(j.uploadId, id);

  // POST /v1/jobs for the same upload finds the same job instead of starting another.
  const again = await fetch(`${server.url}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ uploadId: id }),
  });
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as { id: string }).id, done.jobId);
});

test('a whole-file checksum is verified when the upload finishes; a mismatch removes it', async () => {
  const bob = await newUser(server, 'up');
  const data = randomBytes(300_000);
  const good = `sha256 ${createHash('sha256').update(data).digest('base64')}`;
  const ok = await upload(data, bob.token, { metadata: { title: 'checked', checksum: good }, chunkSize: 100_000 });
  assert.ok(ok.jobId);

  const bad = `sha256 ${createHash('sha256').update('something else').digest('base64')}`;
  let url = '';
  const err = await upload(data, bob.token, { metadata: { title: 'corrupted', checksum: bad }, chunkSize: 100_000, onStart: () => undefined }).then(
    () => assert.fail('a wrong checksum must be refused'),
    (e: unknown) => e,
  );
  assert.deepEqual(codeOf(err), { status: 460, code: 'E_CHECKSUM_MISMATCH' });
  url = (err as { originalRequest?: tus.HttpRequest }).originalRequest?.getURL() ?? '';
  assert.ok(url);
  const res = await head(url, bob.token);
  assert.equal(res.status, 404, 'the mismatching upload was removed');
  const id = url.slice(url.lastIndexOf('/') + 1);
  await assert.rejects(stat(join(dataDir, 'uploads', id)), { code: 'ENOENT' });

  const malformed = await upload(data, bob.token, { metadata: { title: 't', checksum: 'crc32 abc' } }).catch((e: unknown) => e);
  assert.deepEqual(codeOf(malformed), { status: 400, code: 'E_VALIDATION' });
});

test('uploads need a token, and one user cannot see or touch another user\'s upload', async () => {
  const data = randomBytes(10_000);
  const err = await upload(data, undefined).catch((e: unknown) => e);
  assert.deepEqual(codeOf(err), { status: 401, code: 'E_TOKEN_MISSING' });
  const forged = await upload(data, 'not.a.jwt').catch((e: unknown) => e);
  assert.equal(codeOf(forged).status, 401);

  const carol = await newUser(server, 'up');
  const mallory = await newUser(server, 'up');
  const half = await upload(data, carol.token, { stopAt: 1, chunkSize: 5_000 });
  for (const method of ['HEAD', 'DELETE']) {
    const res = await fetch(half.url, { method, headers: tusHeaders(mallory.token) });
    assert.equal(res.status, 404, `${method} by another user`);
  }
  const patch = await fetch(half.url, {
    method: 'PATCH',
    headers: { ...tusHeaders(mallory.token), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
    body: data,
  });
  assert.equal(patch.status, 404);
  assert.equal(((await patch.json()) as { error: { code: string } }).error.code, 'E_UPLOAD_NOT_FOUND');
  assert.equal((await head(half.url, carol.token)).status, 200, 'the owner still sees it');

  // Created by hand: the expiration extension says when an unfinished upload goes.
  const created = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(carol.token), 'upload-length': '10', 'upload-metadata': `title ${Buffer.from('raw').toString('base64')}` },
  });
  assert.equal(created.status, 201);
  const expires = Date.parse(created.headers.get('upload-expires') ?? '');
  assert.ok(expires > Date.now() + 3_600_000, 'Upload-Expires is UPLOAD_EXPIRY_S (default a day) ahead');
  assert.equal(created.headers.get('tus-resumable'), '1.0.0');

  const noTitle = await upload(data, carol.token, { metadata: { description: 'no title' } }).catch((e: unknown) => e);
  assert.deepEqual(codeOf(noTitle), { status: 400, code: 'E_VALIDATION' });
});

test('UPLOAD_MAX_BYTES and the per-user quota are enforced at creation; termination frees quota', async () => {
  const dave = await newUser(server, 'up');
  const big = await upload(randomBytes(MAX + 1), dave.token).catch((e: unknown) => e);
  assert.deepEqual(codeOf(big), { status: 413, code: 'E_PAYLOAD_TOO_LARGE' });

  // 5 MB is kept (unfinished uploads reserve their declared size too); 5 more exceed 8 MB.
  const first = await upload(randomBytes(5 * 1024 * 1024), dave.token, { stopAt: 1, chunkSize: 1024 * 1024 });
  const over = await upload(randomBytes(5 * 1024 * 1024), dave.token).catch((e: unknown) => e);
  assert.deepEqual(codeOf(over), { status: 413, code: 'E_QUOTA_EXCEEDED' });

  // The quota is per user.
  const erin = await newUser(server, 'up');
  assert.ok((await upload(randomBytes(5 * 1024 * 1024), erin.token, { stopAt: 1, chunkSize: 1024 * 1024 })).url);

  const del = await fetch(first.url, { method: 'DELETE', headers: tusHeaders(dave.token) });
  assert.equal(del.status, 204);
  assert.equal((await head(first.url, dave.token)).status, 404);
  const now = await upload(randomBytes(5 * 1024 * 1024), dave.token, { stopAt: 1, chunkSize: 1024 * 1024 });
  assert.ok(now.url, 'room again after termination');
});

/** Creates an upload of `size` bytes by hand and sends its first `sent` bytes; returns its URL. */
async function partialUpload(token: string, size: number, sent: Buffer): Promise<string> {
  const created = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(token), 'upload-length': String(size), 'upload-metadata': `title ${Buffer.from('mine').toString('base64')}` },
  });
  assert.equal(created.status, 201);
  const url = created.headers.get('location')!;
  const patch = await fetch(url, {
    method: 'PATCH',
    headers: { ...tusHeaders(token), 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
    body: new Uint8Array(sent),
  });
  assert.equal(patch.status, 204);
  return url;
}

test('tus acts on the upload the ownership check saw: a query string cannot name another one', async () => {
  const alice = await newUser(server, 'up');
  const bob = await newUser(server, 'up');
  const aliceBytes = randomBytes(40);
  const aliceUrl = await partialUpload(alice.token, 100, aliceBytes);
  const aliceId = aliceUrl.slice(aliceUrl.lastIndexOf('/') + 1);
  const bobUrl = await partialUpload(bob.token, 100, randomBytes(10));

  // HEAD with Alice's id hidden in the query: nothing of hers comes back.
  const peek = await fetch(`${server.url}/v1/uploads?x=/${aliceId}`, { method: 'HEAD', headers: tusHeaders(bob.token) });
  assert.equal(peek.status, 404, 'HEAD through the query string');
  assert.equal(peek.headers.get('upload-metadata'), null);
  assert.equal(peek.headers.get('upload-offset'), null);

  // PATCH of Bob's own URL, Alice's id in the query, at Alice's offset: it is not written into hers.
  const write = await fetch(`${bobUrl}?x=/${aliceId}`, {
    method: 'PATCH',
    headers: { ...tusHeaders(bob.token), 'upload-offset': '40', 'content-type': 'application/offset+octet-stream' },
    body: new Uint8Array(randomBytes(10)),
  });
  assert.notEqual(write.status, 204, 'PATCH through the query string');

  // DELETE with Alice's id in the query.
  const del = await fetch(`${server.url}/v1/uploads?x=/${aliceId}`, { method: 'DELETE', headers: tusHeaders(bob.token) });
  assert.equal(del.status, 404, 'DELETE through the query string');

  // Alice's upload is untouched.
  const mine = await head(aliceUrl, alice.token);
  assert.equal(mine.status, 200);
  assert.equal(mine.headers.get('upload-offset'), '40');
  assert.deepEqual(await readFile(join(dataDir, 'uploads', aliceId)), aliceBytes);
});

test('HEAD answers the metadata the client sent, never the internal owner key', async () => {
  const alice = await newUser(server, 'up');
  const url = await partialUpload(alice.token, 100, randomBytes(10));
  const res = await head(url, alice.token);
  assert.equal(res.status, 200);
  const keys = (res.headers.get('upload-metadata') ?? '').split(',').map((pair) => pair.trim().split(' ')[0]);
  assert.ok(keys.includes('title'), `metadata keys: ${keys.join(', ')}`);
  assert.ok(!keys.includes('owner'), `metadata keys: ${keys.join(', ')}`);
});

/** Creates an upload of `size` bytes (no data yet); resolves with the status and error code. */
async function create(url: string, token: string, size: number): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${url}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(token), 'upload-length': String(size), 'upload-metadata': `title ${Buffer.from('race').toString('base64')}` },
  });
  const text = await res.text();
  return { status: res.status, ...(res.status >= 400 ? { code: (JSON.parse(text) as { error: { code: string } }).error.code } : {}) };
}

test('parallel creations cannot overshoot the quota: it is reserved atomically', async () => {
  const frank = await newUser(server, 'up');
  // twelve 2 MiB uploads at once against the 8 MiB quota: exactly four fit
  const results = await Promise.all(Array.from({ length: 12 }, () => create(server.url, frank.token, 2 * 1024 * 1024)));
  assert.equal(results.filter((r) => r.status === 201).length, 4, JSON.stringify(results));
  assert.ok(results.every((r) => r.status === 201 || (r.status === 413 && r.code === 'E_QUOTA_EXCEEDED')), JSON.stringify(results));
  assert.equal(await server.store.uploads.usedBytes(frank.id), QUOTA);
});

test('several processes on one Redis share one quota: parallel creations through all of them cannot overshoot it', async () => {
  const redis = await connectRedis();
  const prefix = randomPrefix('quota');
  const shared = await tempDir('tremolo-uploads-shared-');
  // secrets given, so that every process accepts the others' tokens
  const env = {
    STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, DATA_DIR: shared, UPLOAD_QUOTA_BYTES: String(QUOTA),
    JWT_SECRET: randomBytes(32).toString('hex'), MEDIA_SECRET: randomBytes(32).toString('hex'), WORKER_THREADS: '1',
  };
  const local = await startServer({ ...env, NODE_ID: '1' });
  const others = await Promise.all([spawnServer({ ...env, NODE_ID: '2' }), spawnServer({ ...env, NODE_ID: '3' })]);
  try {
    const grace = await newUser(local, 'up');
    const urls = [local.url, ...others.map((o) => o.url)];
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => create(urls[i % 3]!, grace.token, 2 * 1024 * 1024)));
    assert.equal(results.filter((r) => r.status === 201).length, 4, JSON.stringify(results));
    assert.equal(results.filter((r) => r.code === 'E_QUOTA_EXCEEDED').length, 8, JSON.stringify(results));
    assert.equal(await local.store.uploads.usedBytes(grace.id), QUOTA);
  } finally {
    await Promise.all(others.map((o) => o.stop()));
    await local.close();
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await rm(shared, { recursive: true, force: true });
  }
});
