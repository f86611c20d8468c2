import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { FileMediaStore } from '../../src/storage/media/media-store.ts';
import { mediaRoutes, mediaUrlPath } from '../../src/transport/media/routes.ts';
import { MediaSigner } from '../../src/transport/media/signing.ts';
import { removeDir, tempDir } from '../helpers/ffmpeg-fixtures.ts';

const T0 = Date.UTC(2026, 0, 1);

describe('mediaRoutes', () => {
  let root: string;
  let app: FastifyInstance;
  let clock = T0;
  const signer = new MediaSigner({ secret: 'route-secret', ttlS: 60 });
  const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));

  before(async () => {
    root = await tempDir('tremolo-routes-');
    const store = new FileMediaStore({ root });
    const dir = store.dirFor('vid1');
    await mkdir(join(dir, 'hls', '480p'), { recursive: true });
    await writeFile(join(dir, 'video.mp4'), bytes);
    await writeFile(join(dir, 'hls', 'master.m3u8'), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=854x480\n480p/index.m3u8\n');
    await writeFile(join(dir, 'hls', '480p', 'index.m3u8'), '#EXTM3U\n#EXTINF:2.0,\nseg_000.ts\n#EXT-X-ENDLIST\n');
    await writeFile(join(dir, 'hls', '480p', 'seg_000.ts'), bytes.subarray(0, 188));
    await writeFile(join(dir, 'poster.jpg'), bytes.subarray(0, 64));
    // what a transcode leaves for tagging: never meant for clients
    await mkdir(join(dir, 'keyframes'));
    await writeFile(join(dir, 'keyframes', 'kf_01.jpg'), 'a keyframe');
    await writeFile(join(dir, 'audio.wav'), 'the audio track');
    await writeFile(join(root, 'secret.txt'), 'do not serve');
    app = Fastify();
    await app.register(mediaRoutes, { signer, store, now: () => clock });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await removeDir(root);
  });

  const url = (rel: string, ttlS?: number): string => signer.sign(mediaUrlPath(rel), { now: clock, ...(ttlS ? { ttlS } : {}) });

  it('serves a file under a valid signed URL', async () => {
    const res = await app.inject({ method: 'GET', url: url('vid1/video.mp4') });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.rawPayload, bytes);
    assert.match(String(res.headers['cache-control']), /private, max-age=60/);
    assert.equal(res.headers['accept-ranges'], 'bytes');
  });

  it('answers a Range request with 206 and exactly those bytes', async () => {
    const res = await app.inject({ method: 'GET', url: url('vid1/video.mp4'), headers: { range: 'bytes=100-1099' } });
    assert.equal(res.statusCode, 206);
    assert.equal(res.headers['content-range'], `bytes 100-1099/${bytes.length}`);
    assert.deepEqual(res.rawPayload, bytes.subarray(100, 1100));
  });

  it('answers an unsatisfiable or invalid Range with 416 and Content-Range: bytes */size (RFC 9110 14.4)', async () => {
    for (const range of ['bytes=99999999-', 'bytes=5-2', 'bytes=-0', `bytes=${bytes.length}-`, 'bytes=abc']) {
      const res = await app.inject({ method: 'GET', url: url('vid1/video.mp4'), headers: { range } });
      assert.equal(res.statusCode, 416, range);
      assert.equal(res.headers['content-range'], `bytes */${bytes.length}`, range);
      assert.equal(res.json().error.code, 'E_RANGE_NOT_SATISFIABLE', range);
    }
    // A suffix range and an open range inside the file are still served; another unit is ignored.
    const suffix = await app.inject({ method: 'GET', url: url('vid1/video.mp4'), headers: { range: 'bytes=-10' } });
    assert.equal(suffix.statusCode, 206);
    assert.deepEqual(suffix.rawPayload, bytes.subarray(bytes.length - 10));
    const other = await app.inject({ method: 'GET', url: url('vid1/video.mp4'), headers: { range: 'items=0-1' } });
    assert.equal(other.statusCode, 200);
  });

  it('lets `curl -C -` resume a file it already has completely and exit 0', async () => {
    const dir = await tempDir('tremolo-curl-');
    const server = Fastify();
    await server.register(mediaRoutes, { signer, store: new FileMediaStore({ root }), now: () => clock });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const out = join(dir, 'video.mp4');
      await writeFile(out, bytes);
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn('curl', ['-sS', '-C', '-', '-o', out, `${base}${url('vid1/video.mp4')}`]);
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (c) => resolve({ code: c, stderr: err }));
      });
      assert.equal(code, 0, stderr);
      assert.deepEqual(await readFile(out), bytes);
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });

  it('refuses a missing, tampered, expired or misapplied signature with the error body', async () => {
    const good = url('vid1/video.mp4', 10);
    const cases: [string, number, string][] = [
      [mediaUrlPath('vid1/video.mp4'), 403, 'E_SIGNATURE_INVALID'],
      [good.replace(/sig=./, 'sig=A').replace('sig=AA', 'sig=AB'), 403, 'E_SIGNATURE_INVALID'],
      [good.replace('/video.mp4', '/hls/master.m3u8'), 403, 'E_SIGNATURE_INVALID'],
    ];
    for (const [u, status, code] of cases) {
      const res = await app.inject({ method: 'GET', url: u });
      assert.equal(res.statusCode, status, u);
      assert.equal(res.json().error.code, code, u);
      assert.equal(typeof res.json().error.message, 'string');
    }
    clock = T0 + 60_000;
    try {
      const res = await app.inject({ method: 'GET', url: good });
      assert.equal(res.statusCode, 403);
      assert.deepEqual(res.json().error.code, 'E_SIGNATURE_EXPIRED');
    } finally {
      clock = T0;
    }
  });

  it('refuses traversal, plain and percent-encoded', async () => {
    const { search } = new URL(url('vid1/video.mp4'), 'http://x');
    for (const p of ['/media/vid1/../secret.txt', '/media/%2e%2e/secret.txt', '/media/vid1%2f..%2f..%2fsecret.txt', '/media/vid1/%2E%2E/secret.txt']) {
      const res = await app.inject({ method: 'GET', url: `${p}${search}` });
      assert.ok(res.statusCode === 400 || res.statusCode === 403 || res.statusCode === 404, `${p}: ${res.statusCode}`);
      assert.notEqual(res.body, 'do not serve');
    }
    // (inject normalises plain and %2e dot segments before routing; encoded slashes survive to us)
    const res = await app.inject({ method: 'GET', url: `/media/vid1%2f..%2f..%2fsecret.txt${search}` });
    assert.equal(res.json().error.code, 'E_VALIDATION');
  });

  it('serves only files made for players: a valid signature for an audio extract or a keyframe gets 404', async () => {
    for (const rel of ['vid1/video.mp4', 'vid1/poster.jpg', 'vid1/hls/master.m3u8', 'vid1/hls/480p/index.m3u8', 'vid1/hls/480p/seg_000.ts']) {
      assert.equal((await app.inject({ method: 'GET', url: url(rel) })).statusCode, 200, rel);
    }
    for (const rel of ['vid1/audio.wav', 'vid1/keyframes/kf_01.jpg']) {
      const res = await app.inject({ method: 'GET', url: url(rel) });
      assert.equal(res.statusCode, 404, rel);
      assert.equal(res.json().error.code, 'E_NOT_FOUND', rel);
    }
  });

  it('answers 404 in the error shape for a signed URL to a missing file', async () => {
    const res = await app.inject({ method: 'GET', url: url('vid1/hls/720p/index.m3u8') });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'E_NOT_FOUND');
  });

  it('signs the URIs inside playlists so a player can follow them', async () => {
    const master = await app.inject({ method: 'GET', url: url('vid1/hls/master.m3u8') });
    assert.equal(master.statusCode, 200);
    assert.match(String(master.headers['content-type']), /mpegurl/);
    const variantUrl = master.body.split('\n').find((l) => l.startsWith('/media/'));
    assert.ok(variantUrl?.startsWith('/media/vid1/hls/480p/index.m3u8?exp='));
    const variant = await app.inject({ method: 'GET', url: variantUrl });
    assert.equal(variant.statusCode, 200);
    const segUrl = variant.body.split('\n').find((l) => l.startsWith('/media/'));
    const seg = await app.inject({ method: 'GET', url: segUrl! });
    assert.equal(seg.statusCode, 200);
    assert.deepEqual(seg.rawPayload, bytes.subarray(0, 188));
  });
});
