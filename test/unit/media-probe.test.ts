import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { probe } from '../../src/workers/tasks/probe.ts';
import { makeClip, makeMatroska, playlistDisguisedAsTs, removeDir, tempDir, textFile, truncatedCopy } from '../helpers/ffmpeg-fixtures.ts';

/** Debian's ffprobe from PATH, named explicitly so these tests mean the same tool on any revision. */
const ffprobePath = 'ffprobe';

const isMediaError = (code: string, reason?: RegExp) => (e: unknown) =>
  e instanceof TremoloError && e.code === code && (reason === undefined || reason.test(e.message));

describe('probe', () => {
  let dir: string;
  let clip: string;
  before(async () => {
    dir = await tempDir();
    clip = await makeClip(dir, { seconds: 3 });
  });
  after(() => removeDir(dir));

  it('reads duration, size, frame rate, codecs, bitrate and rotation', async () => {
    const p = await probe({ file: clip });
    assert.equal(p.container, 'mov');
    assert.ok(Math.abs(p.durationS - 3) < 0.2, `duration ${p.durationS}`);
    assert.equal(p.width, 1280);
    assert.equal(p.height, 720);
    assert.equal(p.fps, 30);
    assert.equal(p.videoCodec, 'h264');
    assert.equal(p.audioCodec, 'aac');
    assert.ok(p.bitrate > 0);
    assert.equal(p.rotation, 0);
  });

  it('leaves audioCodec out for a silent video', async () => {
    const silent = await makeClip(dir, { seconds: 1, audio: false, width: 320, height: 240 });
    const p = await probe({ file: silent });
    assert.equal(p.audioCodec, undefined);
    assert.equal(p.width, 320);
  });

  it('refuses a file that is not a video', async () => {
    await assert.rejects(probe({ file: await textFile(dir) }), isMediaError('E_MEDIA_INVALID', /not recognised|corrupt/));
  });

  it('refuses a missing or empty file', async () => {
    await assert.rejects(probe({ file: join(dir, 'nope.mp4') }), isMediaError('E_MEDIA_INVALID', /missing/));
    await assert.rejects(probe({ file: await truncatedCopy(clip, join(dir, 'empty.mp4'), 0) }), isMediaError('E_MEDIA_INVALID', /empty/));
  });

  it('refuses a truncated file (index at the end, cut off)', async () => {
    const cut = await truncatedCopy(clip, join(dir, 'cut.mp4'), 0.5);
    await assert.rejects(probe({ file: cut }), isMediaError('E_MEDIA_INVALID'));
  });

  it('refuses a truncated file whose index at the start still claims the full length', async () => {
    const fast = await makeClip(dir, { seconds: 3, faststart: true });
    const cut = await truncatedCopy(fast, join(dir, 'cut-fast.mp4'), 0.5);
    await assert.rejects(probe({ file: cut }), isMediaError('E_MEDIA_INVALID', /truncated/));
  });

  it('refuses a small truncated faststart MP4 (30 % of ~40 KB) from its sample tables, saying why', async () => {
    // Issue 13: this was published as a 0.84 s video; a bitrate estimate with a 64 KB allowance let it through.
    const small = await makeClip(dir, { seconds: 2, width: 160, height: 120, fps: 10, audio: false, faststart: true });
    const size = (await stat(small)).size;
    assert.ok(size > 30_000 && size < 64_000, `fixture is ${size} bytes`);
    const cut = await truncatedCopy(small, join(dir, 'cut-small.mp4'), 0.3);
    await assert.rejects(probe({ file: cut, ffprobePath }), isMediaError('E_MEDIA_INVALID', /truncated: .*byte \d+, but the file has \d+ bytes/));
  });

  it('refuses an HLS playlist disguised as MPEG-TS, never reading the file it names', async () => {
    // Issue 13: the playlist line pulled another user's video into this upload's.
    const root = await tempDir('tremolo-hls-');
    try {
      await mkdir(join(root, 'media', 'jobA'), { recursive: true });
      await mkdir(join(root, 'uploads'));
      const target = await makeClip(join(root, 'media', 'jobA'), { seconds: 1, width: 320, height: 240, faststart: true });
      const upload = await playlistDisguisedAsTs(join(root, 'uploads'), 'upload-b', `../media/jobA/${basename(target)}`);
      await assert.rejects(probe({ file: upload, ffprobePath }), isMediaError('E_MEDIA_INVALID', /not recognised/));
    } finally {
      await removeDir(root);
    }
  });

  it('reads Matroska and WebM (finished and live-recorded) as matroska', async () => {
    for (const file of [await makeMatroska(dir), await makeMatroska(dir, { webm: true }), await makeMatroska(dir, { webm: true, live: true })]) {
      const p = await probe({ file, ffprobePath });
      assert.equal(p.container, 'matroska', file);
      assert.equal(p.width, 320);
      assert.ok(Math.abs(p.durationS - 2) < 0.2, `${file}: ${p.durationS} s`);
    }
  });

  it('refuses truncated Matroska and WebM files, saying why', async () => {
    const mkv = await truncatedCopy(await makeMatroska(dir), join(dir, 'cut.mkv'), 0.5);
    await assert.rejects(probe({ file: mkv, ffprobePath }), isMediaError('E_MEDIA_INVALID', /truncated: its segment ends at byte/));
    const live = await truncatedCopy(await makeMatroska(dir, { webm: true, live: true }), join(dir, 'cut-live.webm'), 0.6);
    await assert.rejects(probe({ file: live, ffprobePath }), isMediaError('E_MEDIA_INVALID', /truncated: /));
  });

  it('refuses containers outside the allow-list (MPEG-TS)', async () => {
    const ts = join(dir, 'plain.ts');
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) =>
      execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', clip, '-c', 'copy', '-f', 'mpegts', ts], (err) => (err ? reject(err) : resolve())),
    );
    await assert.rejects(probe({ file: ts, ffprobePath }), isMediaError('E_MEDIA_INVALID', /not recognised/));
  });

  it('refuses a video longer than the limit, saying how long', async () => {
    await assert.rejects(probe({ file: clip, maxDurationS: 2 }), (e: unknown) => {
      assert.ok(e instanceof TremoloError);
      assert.equal(e.code, 'E_MEDIA_TOO_LONG');
      assert.equal(e.status, 422);
      assert.equal(e.details?.maxDurationS, 2);
      return true;
    });
    assert.ok((await probe({ file: clip, maxDurationS: 4 })).durationS > 2);
  });
});
