import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { probe } from '../../src/workers/tasks/probe.ts';
import { makeClip, removeDir, tempDir, textFile, truncatedCopy } from '../helpers/ffmpeg-fixtures.ts';

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
