import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { probeMedia } from '../../src/workers/media/ffmpeg.ts';
import { parseMediaPlaylist, transcode, type TranscodeManifest } from '../../src/workers/tasks/transcode.ts';
import type { TaskProgress } from '../../src/workers/task-protocol.ts';
import { makeClip, processesMentioning, removeDir, tempDir, textFile, videoSize } from '../helpers/ffmpeg-fixtures.ts';

describe('transcode', () => {
  let dir: string;
  let clip: string;
  let manifest: TranscodeManifest;
  const events: TaskProgress[] = [];

  before(async () => {
    dir = await tempDir();
    clip = await makeClip(dir, { seconds: 5 });
    manifest = await transcode({ input: clip, outDir: join(dir, 'out') }, { progress: (p) => events.push(p) });
  });
  after(() => removeDir(dir));

  it('writes a master playlist whose variants parse and reference existing segments', async () => {
    const master = await readFile(join(manifest.dir, manifest.hls.master), 'utf8');
    assert.match(master, /^#EXTM3U/);
    const inf = master.match(/#EXT-X-STREAM-INF:[^\n]+\n[^\n]+/g) ?? [];
    assert.equal(inf.length, 2);
    assert.match(master, /RESOLUTION=1280x720/);
    assert.match(master, /RESOLUTION=854x480/);
    for (const v of manifest.hls.variants) {
      assert.ok(master.includes(v.playlist.replace(/^hls\//, '')));
      const text = await readFile(join(manifest.dir, v.playlist), 'utf8');
      assert.match(text, /#EXT-X-ENDLIST/);
      const segments = parseMediaPlaylist(text);
      assert.ok(segments.length >= 2, 'several segments');
      const total = segments.reduce((s, x) => s + x.durationS, 0);
      assert.ok(Math.abs(total - 5) < 0.5, `segments cover the video (${total} s)`);
      for (const s of segments) {
        const st = await stat(join(manifest.dir, v.playlist, '..', s.uri));
        assert.ok(st.size > 0);
      }
    }
  });

  it('produces renditions of the right heights', async () => {
    assert.deepEqual(manifest.hls.variants.map((v) => v.height), [720, 480]);
    for (const v of manifest.hls.variants) {
      const size = await videoSize(join(manifest.dir, v.playlist));
      assert.equal(size.height, v.height);
    }
    const mp4 = await probeMedia(join(manifest.dir, manifest.mp4));
    assert.equal(mp4.height, 720);
    assert.equal(mp4.videoCodec, 'h264');
    assert.equal(mp4.audioCodec, 'aac');
  });

  it('writes the MP4 with its index first (faststart)', async () => {
    const head = (await readFile(join(manifest.dir, manifest.mp4))).subarray(0, 4096).toString('latin1');
    assert.ok(head.indexOf('moov') !== -1 && head.indexOf('moov') < Math.max(head.indexOf('mdat'), 4096));
  });

  it('writes a poster, a handful of keyframes and a 16 kHz mono WAV', async () => {
    const jpeg = await readFile(join(manifest.dir, manifest.poster));
    assert.equal(jpeg.readUInt16BE(0), 0xffd8);
    assert.ok(manifest.keyframes.length >= 3 && manifest.keyframes.length <= 6, `${manifest.keyframes.length} keyframes`);
    for (const k of manifest.keyframes) assert.equal((await readFile(join(manifest.dir, k))).readUInt16BE(0), 0xffd8);
    const keyframeSizes = new Set(await Promise.all(manifest.keyframes.map(async (k) => (await stat(join(manifest.dir, k))).size)));
    assert.ok(keyframeSizes.size > 1, 'keyframes are different frames');
    assert.ok(manifest.audio);
    const wav = await readFile(join(manifest.dir, manifest.audio));
    assert.equal(wav.toString('ascii', 0, 4), 'RIFF');
    assert.equal(wav.readUInt16LE(22), 1, 'mono');
    assert.equal(wav.readUInt32LE(24), 16000, '16 kHz');
  });

  it('reports monotonic progress ending at 100', () => {
    const percents = events.map((e) => e.percent);
    assert.ok(percents.length >= 3);
    assert.deepEqual(percents, [...percents].sort((a, b) => a - b));
    assert.equal(percents.at(-1), 100);
  });

  it('leaves audio out for a silent video and never upscales', async () => {
    const small = await makeClip(dir, { seconds: 2, width: 640, height: 360, audio: false });
    const m = await transcode({ input: small, outDir: join(dir, 'small') });
    assert.equal(m.audio, undefined);
    assert.deepEqual(m.hls.variants.map((v) => [v.width, v.height]), [[640, 360]]);
  });

  it('names rungs by the short side for portrait video', async () => {
    const portrait = await makeClip(dir, { seconds: 2, width: 720, height: 1280 });
    const m = await transcode({ input: portrait, outDir: join(dir, 'portrait') });
    assert.deepEqual(m.hls.variants.map((v) => [v.width, v.height]), [[720, 1280], [480, 854]]);
  });

  it('fails with E_MEDIA_INVALID on a non-video and leaves nothing behind', async () => {
    const parent = await tempDir('tremolo-bad-');
    try {
      await assert.rejects(transcode({ input: await textFile(dir), outDir: join(parent, 'v') }), (e: unknown) => e instanceof TremoloError && e.code === 'E_MEDIA_INVALID');
      assert.deepEqual(await readdir(parent), []);
    } finally {
      await removeDir(parent);
    }
  });

  it('stops on abort: kills ffmpeg and removes the partial output', async () => {
    const parent = await tempDir('tremolo-abort-');
    const long = await makeClip(dir, { seconds: 20 });
    try {
      const stop = new AbortController();
      const task = transcode(
        { input: long, outDir: join(parent, 'v') },
        { signal: stop.signal, progress: (p) => p.stage === 'transcode' && p.percent > 5 && stop.abort('cancelled') },
      );
      await assert.rejects(task, (e: unknown) => e instanceof TremoloError && e.code === 'E_JOB_CANCELLED');
      assert.deepEqual(await processesMentioning(parent), []);
      assert.deepEqual(await readdir(parent), []);
    } finally {
      await removeDir(parent);
    }
  });
});
