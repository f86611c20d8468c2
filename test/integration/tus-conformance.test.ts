/**
 * tus 1.0 conformance beyond the core (issue 15 items 3 and 4), with the clients that use
 * it: tus-js-client (overridePatchMethod, parallelUploads) and hand-written requests, against
 * a real server: X-HTTP-Method-Override, no creation from an upload's URL, Tus-Max-Size,
 * the checksum extension per PATCH, and the concatenation extension with ownership and quota.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as tus from 'tus-js-client';
import type { Tremolo } from '../../src/main.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { newUser, startServer } from '../helpers/server.ts';

let server: Tremolo;
let dataDir: string;
const MAX = 6 * 1024 * 1024;
const QUOTA = 8 * 1024 * 1024;

before(async () => {
  dataDir = await tempDir('tremolo-tus-');
  server = await startServer({ DATA_DIR: dataDir, UPLOAD_MAX_BYTES: String(MAX), UPLOAD_QUOTA_BYTES: String(QUOTA), WORKER_THREADS: '1' });
});

after(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

const tusHeaders = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' });
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const idOf = (url: string): string => url.slice(url.lastIndexOf('/') + 1);
const digest = (algorithm: string, data: Uint8Array): string => createHash(algorithm).update(data).digest('base64');
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Uploads with tus-js-client and the given extra options; resolves with the URL and the job header. */
function upload(data: Buffer, token: string, opts: Partial<tus.UploadOptions>): Promise<{ url: string; jobId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const u = new tus.Upload(data, {
      endpoint: `${server.url}/v1/uploads`,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { title: 'my clip', filename: 'clip.mp4' },
      retryDelays: [],
      storeFingerprintForResuming: false,
      ...opts,
      onSuccess: (payload) => resolve({ url: u.url ?? '', jobId: payload.lastResponse.getHeader('Tremolo-Job-Id') }),
      onError: reject,
    });
    u.start();
  });
}

async function codeOf(res: Response): Promise<{ status: number; code: string | undefined }> {
  const body = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, code: body.error?.code };
}

/** Creates an upload by hand (a partial one with `partial`); returns its URL. */
async function create(token: string, size: number, opts: { partial?: boolean } = {}): Promise<string> {
  const res = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: {
      ...tusHeaders(token),
      'upload-length': String(size),
      ...(opts.partial ? { 'upload-concat': 'partial' } : { 'upload-metadata': `title ${b64('mine')}` }),
    },
  });
  assert.equal(res.status, 201, await res.text());
  return res.headers.get('location')!;
}

function patch(url: string, token: string, offset: number, body: Uint8Array, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { ...tusHeaders(token), 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream', ...extra },
    body: new Uint8Array(body),
  });
}

async function offsetOf(url: string, token: string): Promise<string | null> {
  const res = await fetch(url, { method: 'HEAD', headers: tusHeaders(token) });
  assert.equal(res.status, 200);
  return res.headers.get('upload-offset');
}

test('tus-js-client with overridePatchMethod (POST + X-HTTP-Method-Override: PATCH) uploads byte-identical', async () => {
  const alice = await newUser(server, 'tus');
  const data = randomBytes(250_000);
  const done = await upload(data, alice.token, { overridePatchMethod: true, chunkSize: 100_000 });
  assert.ok(done.jobId, 'the last (overridden) PATCH starts the job');
  assert.equal(sha256(await readFile(join(dataDir, 'uploads', idOf(done.url)))), sha256(data));
});

test("a POST to an existing upload's URL never creates an upload", async () => {
  const bob = await newUser(server, 'tus');
  const url = await create(bob.token, 100);
  const before = (await readdir(join(dataDir, 'uploads'))).length;
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...tusHeaders(bob.token), 'upload-length': '100', 'upload-metadata': `title ${b64('again')}` },
  });
  const answer = await codeOf(res);
  assert.deepEqual(answer, { status: 400, code: 'E_VALIDATION' });
  assert.equal(res.headers.get('location'), null);
  assert.equal((await readdir(join(dataDir, 'uploads'))).length, before, 'no upload was created');
  // an override that is not a tus method is refused too
  const odd = await fetch(url, { method: 'POST', headers: { ...tusHeaders(bob.token), 'x-http-method-override': 'GET' } });
  assert.deepEqual(await codeOf(odd), { status: 400, code: 'E_VALIDATION' });
});

test('OPTIONS advertises Tus-Max-Size, the checksum and concatenation extensions and the checksum algorithms', async () => {
  const res = await fetch(`${server.url}/v1/uploads`, { method: 'OPTIONS' });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('tus-max-size'), String(MAX));
  const extensions = (res.headers.get('tus-extension') ?? '').split(',');
  for (const e of ['creation', 'checksum', 'concatenation']) assert.ok(extensions.includes(e), `Tus-Extension: ${extensions.join(',')}`);
  assert.ok(!extensions.includes('creation-defer-length'));
  assert.equal(res.headers.get('tus-checksum-algorithm'), 'sha1,sha256');
});

test('Upload-Checksum per PATCH: sha1 and sha256 accepted, a mismatch answers 460 and stores none of the chunk', async () => {
  const carol = await newUser(server, 'tus');
  const data = randomBytes(3000);
  const url = await create(carol.token, data.length);
  const one = data.subarray(0, 1000);
  const ok = await patch(url, carol.token, 0, one, { 'upload-checksum': `sha1 ${digest('sha1', one)}` });
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('upload-offset'), '1000');

  const two = data.subarray(1000, 2000);
  const bad = await patch(url, carol.token, 1000, two, { 'upload-checksum': `sha256 ${digest('sha256', Buffer.from('other bytes'))}` });
  assert.deepEqual(await codeOf(bad), { status: 460, code: 'E_CHECKSUM_MISMATCH' });
  assert.equal(await offsetOf(url, carol.token), '1000', 'the chunk that failed its checksum is not kept');

  const md5 = await patch(url, carol.token, 1000, two, { 'upload-checksum': `md5 ${digest('md5', two)}` });
  assert.deepEqual(await codeOf(md5), { status: 400, code: 'E_VALIDATION' });
  assert.equal(await offsetOf(url, carol.token), '1000');

  const again = await patch(url, carol.token, 1000, data.subarray(1000), { 'upload-checksum': `sha256 ${digest('sha256', data.subarray(1000))}` });
  assert.equal(again.status, 204);
  assert.ok(again.headers.get('tremolo-job-id'));
  assert.equal(sha256(await readFile(join(dataDir, 'uploads', idOf(url)))), sha256(data));
});

test('tus-js-client parallelUploads: partials are concatenated into one upload, counted once against the quota', async () => {
  const dave = await newUser(server, 'tus');
  const data = randomBytes(5 * 1024 * 1024 + 17);
  const done = await upload(data, dave.token, { parallelUploads: 3 });
  assert.ok(done.jobId, 'the final upload starts the job');
  const id = idOf(done.url);
  assert.equal(sha256(await readFile(join(dataDir, 'uploads', id))), sha256(data));
  assert.equal(await server.store.uploads.usedBytes(dave.id), data.length, 'the bytes count once');
  // the partials' bytes live on in the final upload only
  const names = (await readdir(join(dataDir, 'uploads'))).filter((n) => n.startsWith(`${dave.id}-`) && !n.endsWith('.json'));
  assert.deepEqual(names, [id]);
  const head = await fetch(done.url, { method: 'HEAD', headers: tusHeaders(dave.token) });
  assert.equal(head.headers.get('upload-length'), String(data.length));
  assert.equal(head.headers.get('upload-offset'), String(data.length));
});

test("a final upload made of another user's partials, of unfinished partials or of whole uploads is refused", async () => {
  const erin = await newUser(server, 'tus');
  const mallory = await newUser(server, 'tus');
  const hers = await create(erin.token, 10, { partial: true });
  assert.equal((await patch(hers, erin.token, 0, randomBytes(10))).status, 204);
  const head = await fetch(hers, { method: 'HEAD', headers: tusHeaders(erin.token) });
  assert.equal(head.headers.get('upload-concat'), 'partial');
  assert.ok(!(head.headers.get('upload-metadata') ?? '').includes('concat'));
  const final = (token: string, urls: string[]): Promise<Response> =>
    fetch(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: { ...tusHeaders(token), 'upload-concat': `final;${urls.join(' ')}`, 'upload-metadata': `title ${b64('joined')}` },
    });

  const mine = await create(mallory.token, 10, { partial: true });
  assert.equal((await patch(mine, mallory.token, 0, randomBytes(10))).status, 204);
  const stolen = await final(mallory.token, [mine, hers]);
  assert.deepEqual(await codeOf(stolen), { status: 404, code: 'E_UPLOAD_NOT_FOUND' });
  assert.equal(await offsetOf(hers, erin.token), '10', "Erin's partial is untouched");

  const unfinished = await create(erin.token, 10, { partial: true });
  assert.deepEqual(await codeOf(await final(erin.token, [hers, unfinished])), { status: 400, code: 'E_VALIDATION' });
  const whole = await create(erin.token, 10);
  assert.equal((await patch(whole, erin.token, 0, randomBytes(10))).status, 204);
  assert.deepEqual(await codeOf(await final(erin.token, [hers, whole])), { status: 400, code: 'E_VALIDATION' });
  assert.deepEqual(await codeOf(await final(erin.token, [hers, hers])), { status: 400, code: 'E_VALIDATION' });

  // the whole-file checksum in a final upload's metadata is checked on the joined bytes
  const other = await create(erin.token, 10, { partial: true });
  const otherBytes = randomBytes(10);
  assert.equal((await patch(other, erin.token, 0, otherBytes)).status, 204);
  const wrongSum = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: {
      ...tusHeaders(erin.token),
      'upload-concat': `final;${new URL(other).pathname}`,
      'upload-metadata': `title ${b64('joined')},checksum ${b64(`sha256 ${digest('sha256', Buffer.from('not these bytes'))}`)}`,
    },
  });
  assert.deepEqual(await codeOf(wrongSum), { status: 460, code: 'E_CHECKSUM_MISMATCH' });
  assert.equal(await offsetOf(other, erin.token), '10', 'the partial is kept');
  const rightSum = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: {
      ...tusHeaders(erin.token),
      'upload-concat': `final;${new URL(other).pathname}`, // a relative URL names it too
      'upload-metadata': `title ${b64('joined')},checksum ${b64(`sha256 ${digest('sha256', otherBytes)}`)}`,
    },
  });
  assert.equal(rightSum.status, 201);
  assert.ok(rightSum.headers.get('tremolo-job-id'));

  // a metadata key only the server sets cannot turn a whole upload into a partial
  const forged = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(erin.token), 'upload-length': '10', 'upload-metadata': `title ${b64('x')},concat ${b64('partial')}` },
  });
  assert.equal(forged.status, 201);
  const forgedUrl = forged.headers.get('location')!;
  assert.equal((await patch(forgedUrl, erin.token, 0, randomBytes(10))).status, 204);
  assert.deepEqual(await codeOf(await final(erin.token, [hers, forgedUrl])), { status: 400, code: 'E_VALIDATION' });

  // partials reserve their size: one that does not fit the quota is refused at creation
  const over = await fetch(`${server.url}/v1/uploads`, {
    method: 'POST',
    headers: { ...tusHeaders(erin.token), 'upload-length': String(QUOTA), 'upload-concat': 'partial' },
  });
  assert.equal(over.status, 413);
});
