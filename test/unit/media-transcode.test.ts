import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { TremoloError } from '../../src/protocol/errors.ts';
import { probeMedia } from '../../src/workers/media/ffmpeg.ts';
import { keyframeIntervalS, parseMediaPlaylist, planTranscode, transcode, type TranscodeManifest } from '../../src/workers/tasks/transcode.ts';
import type { TaskProgress } from '../../src/workers/task-protocol.ts';
import { makeClip, makeMatroska, playlistDisguisedAsTs, processesMentioning, removeDir, tempDir, textFile, videoSize } from '../helpers/ffmpeg-fixtures.ts';

/** Debian's tools from PATH, named explicitly so these tests mean the same binaries on any revision. */
const bins = { ffmpegPath: 'ffmpeg', ffprobePath: 'ffprobe' };

const run = promisify(execFile);

/** ffprobe's start time of each stream type of a file or playlist (our own output). */
async function startTimes(file: string): Promise<Record<string, number>> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,start_time', '-of', 'json', file]);
  const streams = (JSON.parse(stdout) as { streams: { codec_type: string; start_time: string }[] }).streams;
  return Object.fromEntries(streams.map((s) => [s.codec_type, Number(s.start_time)]));
}

/** Presentation times of the video keyframes of a file or playlist, as the demuxer flags them. */
async function keyframeTimes(file: string): Promise<number[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', file], {
    maxBuffer: 16 << 20,
  });
  return stdout
    .split('\n')
    .filter((l) => /,K/.test(l))
    .map((l) => Number(l.split(',')[0]));
}

/** H.264 NAL unit types of the video slices (1 = non-IDR, 5 = IDR), in stream order. */
async function sliceTypes(file: string): Promise<number[]> {
  const { stderr } = await run('ffmpeg', ['-hide_banner', '-i', file, '-map', '0:v', '-c', 'copy', '-bsf:v', 'trace_headers', '-f', 'null', '-'], {
    maxBuffer: 64 << 20,
  });
  return [...stderr.matchAll(/nal_unit_type\s+\d+ = (\d+)$/gm)].map((m) => Number(m[1])).filter((t) => t === 1 || t === 5);
}

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

  it('gives every rendition one timeline: video and audio start within a frame of the top rung', async () => {
    // Issue 15: the lower rungs started 1.4 s after the top one (plain hls muxer vs tee).
    const frame = 1 / manifest.probe.fps;
    const [top, ...rest] = await Promise.all(manifest.hls.variants.map((v) => startTimes(join(manifest.dir, v.playlist))));
    assert.ok(rest.length >= 1, 'several renditions');
    assert.ok(top!.video! < 0.5, `the top rung starts at the beginning (${top!.video})`);
    for (const [i, r] of rest.entries()) {
      const name = manifest.hls.variants[i + 1]!.playlist;
      for (const kind of ['video', 'audio']) {
        assert.ok(Math.abs(r[kind]! - top![kind]!) <= frame, `${name} ${kind} starts at ${r[kind]} s, the top rung at ${top![kind]} s`);
      }
    }
  });

  it('puts IDR frames every 2 s on one grid in every rendition, and one at the start of each segment', async () => {
    const frame = 1 / manifest.probe.fps;
    const grids = await Promise.all(manifest.hls.variants.map((v) => keyframeTimes(join(manifest.dir, v.playlist))));
    const start = grids[0]![0]!;
    const expected = [0, 2, 4].map((t) => start + t); // a 5 s clip
    for (const [i, grid] of grids.entries()) {
      const name = manifest.hls.variants[i]!.playlist;
      assert.equal(grid.length, expected.length, `${name} keyframes at ${grid.join(', ')}`);
      grid.forEach((t, k) => assert.ok(Math.abs(t - expected[k]!) <= frame / 2, `${name} keyframe ${k} at ${t} s, expected ${expected[k]} s`));
      const slices = await sliceTypes(join(manifest.dir, manifest.hls.variants[i]!.playlist));
      assert.equal(slices.filter((t) => t === 5).length, expected.length, `${name}: every keyframe is an IDR, no other frame is`);
      for (const seg of parseMediaPlaylist(await readFile(join(manifest.dir, manifest.hls.variants[i]!.playlist), 'utf8'))) {
        const first = await sliceTypes(join(manifest.dir, dirname(manifest.hls.variants[i]!.playlist), seg.uri));
        assert.equal(first[0], 5, `${name} ${seg.uri} starts with an IDR frame`);
      }
    }
  });

  it('spaces IDR frames at most 2 s apart, a whole number of them per segment', () => {
    assert.equal(keyframeIntervalS(2), 2);
    assert.equal(keyframeIntervalS(6), 2);
    assert.equal(keyframeIntervalS(1), 1);
    assert.equal(keyframeIntervalS(3), 1.5);
    assert.throws(() => keyframeIntervalS(0), RangeError);
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

  it('opens the source only with the demuxer its probe named, local files only', async () => {
    const probe = await probeMedia(clip);
    const { plan } = planTranscode(clip, probe, dir);
    assert.equal(plan.inputs.length, 2);
    for (const input of plan.inputs) {
      const o = input.options.join(' ');
      assert.ok(o.includes('-protocol_whitelist file -f mov -enable_drefs 0'), o);
    }
  });

  it('never reads another file through a playlist, even when handed a probe of a real video', async () => {
    // Issue 13: an upload made of an HLS line naming another video, then a short MPEG-TS.
    const parent = await tempDir('tremolo-hls-');
    try {
      // Faststart, like every video.mp4 the pipeline publishes: HLS reads it as a segment.
      const target = await makeClip(dir, { seconds: 2, width: 640, height: 360, faststart: true });
      const upload = await playlistDisguisedAsTs(parent, 'upload', target);
      const probe = await probeMedia(target); // what a probe of the named file would say
      await assert.rejects(transcode({ input: upload, outDir: join(parent, 'v'), probe, ...bins }), (e: unknown) => e instanceof TremoloError && e.code === 'E_MEDIA_INVALID');
      assert.deepEqual((await readdir(parent)).filter((f) => f.startsWith('v')), [], 'no output');
    } finally {
      await removeDir(parent);
    }
  });

  it('transcodes a live-recorded WebM (no duration, Matroska demuxer)', async () => {
    const webm = await makeMatroska(dir, { webm: true, live: true });
    const m = await transcode({ input: webm, outDir: join(dir, 'webm'), ...bins });
    assert.equal(m.probe.container, 'matroska');
    assert.deepEqual(m.hls.variants.map((v) => [v.width, v.height]), [[320, 240]]);
    assert.ok(m.audio);
    const out = await probeMedia(join(m.dir, m.mp4));
    assert.ok(Math.abs(out.durationS - 2) < 0.3, `${out.durationS} s`);
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
