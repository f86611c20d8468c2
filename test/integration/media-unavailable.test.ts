/**
 * A server whose ffmpeg is missing (or too old) still starts and serves everything but media
 * processing: it says why in its log, uploads and jobs answer 503 E_MEDIA_UNAVAILABLE, and
 * it claims no job.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { freePort } from '../helpers/redis.ts';
import { eventually, newUser } from '../helpers/server.ts';

const BIN = new URL('../../bin/tremolo.js', import.meta.url).pathname;

test('without a usable ffmpeg the server starts, logs why, and answers uploads and jobs with 503 E_MEDIA_UNAVAILABLE', async () => {
  const dataDir = await tempDir('tremolo-no-ffmpeg-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, FFMPEG_PATH: join(dataDir, 'no-such-ffmpeg'), LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output}`);
      return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    }, 'the server to serve', 60_000);

    const line = output.split('\n').find((l) => l.includes('E_MEDIA_UNAVAILABLE') || l.includes('media processing is off'));
    assert.ok(line, `a log line says media processing is off: ${output.slice(-2000)}`);
    assert.match(line, /"level":50/, 'logged as an error');
    assert.match(line, /media processing is off .*ffmpeg not found at \S*no-such-ffmpeg\. Install ffmpeg 5\.1 or newer .*FFMPEG_PATH/);

    // Everything else works: sign-up, publishing hosted media.
    const user = await newUser({ url }, 'noff');
    const video = await fetch(`${url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'hosted elsewhere', mediaUrl: 'https://cdn.example/v.mp4' }),
    });
    assert.equal(video.status, 201);

    const upload = await fetch(`${url}/v1/uploads`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'tus-resumable': '1.0.0', 'upload-length': '1000', 'upload-metadata': `title ${Buffer.from('clip').toString('base64')}` },
    });
    assert.equal(upload.status, 503);
    assert.equal(((await upload.json()) as { error: { code: string } }).error.code, 'E_MEDIA_UNAVAILABLE');

    const job = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ uploadId: `${user.id}-${'0'.repeat(32)}` }),
    });
    assert.equal(job.status, 503);
    assert.equal(((await job.json()) as { error: { code: string } }).error.code, 'E_MEDIA_UNAVAILABLE');
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
  }
});
