/**
 * Test media made on the spot with ffmpeg's lavfi sources, so no binary fixtures live in
 * the repository. Clips are cached per test process by their parameters.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveBinaries } from '../../src/workers/media/ffmpeg.ts';

const run = promisify(execFile);

export interface ClipSpec {
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  audio?: boolean;
  /** moov atom at the start (true) or the end (false, ffmpeg's default). */
  faststart?: boolean;
}

/** A fresh directory under os.tmpdir(); remove it with `rm(dir, { recursive: true })`. */
export function tempDir(prefix = 'tremolo-media-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Generates an H.264/AAC MP4 test clip (testsrc2 + 440 Hz sine), keyframe every second. */
export async function makeClip(dir: string, spec: ClipSpec = {}): Promise<string> {
  const s = { seconds: 3, width: 1280, height: 720, fps: 30, audio: true, faststart: false, ...spec };
  const name = `clip-${s.width}x${s.height}-${s.fps}-${s.seconds}s${s.audio ? '-a' : ''}${s.faststart ? '-fs' : ''}.mp4`;
  const out = join(dir, name);
  if (await stat(out).then(() => true, () => false)) return out;
  const { ffmpegPath } = resolveBinaries();
  const args = [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${s.width}x${s.height}:rate=${s.fps}`,
    ...(s.audio ? ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'] : []),
    '-t', String(s.seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(s.fps), '-pix_fmt', 'yuv420p',
    ...(s.audio ? ['-c:a', 'aac', '-b:a', '96k'] : []),
    ...(s.faststart ? ['-movflags', '+faststart'] : []),
    out,
  ];
  await run(ffmpegPath, args);
  return out;
}

/**
 * A Matroska (H.264/AAC `.mkv`) or WebM (VP8/Opus `.webm`) clip, 320x240, written as ffmpeg
 * writes a finished file (segment size, seek head and cues filled in) or, with `live`, as a
 * recorder streams it (segment of unknown size, no cues).
 */
export async function makeMatroska(dir: string, spec: { seconds?: number; webm?: boolean; live?: boolean } = {}): Promise<string> {
  const s = { seconds: 2, webm: false, live: false, ...spec };
  const out = join(dir, `clip-${s.seconds}s${s.live ? '-live' : ''}.${s.webm ? 'webm' : 'mkv'}`);
  if (await stat(out).then(() => true, () => false)) return out;
  const { ffmpegPath } = resolveBinaries();
  await run(ffmpegPath, [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(s.seconds), '-g', '10', '-pix_fmt', 'yuv420p',
    ...(s.webm ? ['-c:v', 'libvpx', '-b:v', '200k', '-c:a', 'libopus'] : ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac']),
    ...(s.live ? ['-live', '1', '-f', 'webm'] : []),
    out,
  ]);
  return out;
}

/**
 * A real H.264 MP4 of a few kilobytes (20 s of flat grey at 64x64, 5 fps, no audio): small
 * enough for tiny upload limits, yet a job for it probes, transcodes and tags, so it stays
 * queued or running for a while (a job of random bytes fails at its first probe).
 */
export async function makeTinyClip(dir: string): Promise<string> {
  const out = join(dir, 'tiny-grey.mp4');
  if (await stat(out).then(() => true, () => false)) return out;
  const { ffmpegPath } = resolveBinaries();
  await run(ffmpegPath, [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'color=c=gray:size=64x64:rate=5',
    '-t', '20', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '5', '-pix_fmt', 'yuv420p', '-movflags', '+faststart',
    out,
  ]);
  return out;
}

/**
 * The attack from issue 13: an HLS playlist naming `target` (relative to the upload, or
 * absolute) followed by a short MPEG-TS. A demuxer guessed from the content reads it as HLS
 * and pulls `target` in.
 */
export async function playlistDisguisedAsTs(dir: string, name: string, target: string): Promise<string> {
  const { ffmpegPath } = resolveBinaries();
  const ts = join(dir, `${name}.tail.ts`);
  await run(ffmpegPath, [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'color=c=red:size=320x240:rate=10', '-t', '1',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mpegts', ts,
  ]);
  const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${target}\n#EXT-X-ENDLIST\n`;
  const out = join(dir, name);
  await writeFile(out, Buffer.concat([Buffer.from(playlist), await readFile(ts)]));
  return out;
}

/** Copies the first `fraction` of a file, like an interrupted upload. */
export async function truncatedCopy(src: string, dst: string, fraction: number): Promise<string> {
  const data = await readFile(src);
  await writeFile(dst, data.subarray(0, Math.floor(data.length * fraction)));
  return dst;
}

/** A file that is clearly not media. */
export async function textFile(dir: string): Promise<string> {
  const p = join(dir, 'notes.mp4');
  await writeFile(p, 'this is a shopping list, not a video\n'.repeat(200));
  return p;
}

/** Frame size of the first video stream (an HLS playlist included: our own output), read by ffmpeg itself. */
export async function videoSize(file: string): Promise<{ width: number; height: number }> {
  const { ffmpegPath } = resolveBinaries();
  const stderr = await run(ffmpegPath, ['-hide_banner', '-i', file]).then(
    (r) => r.stderr,
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  const m = /Stream #\S+.*Video: .*?, (\d{2,5})x(\d{2,5})/.exec(stderr);
  if (!m) throw new Error(`no video stream in ${file}: ${stderr.slice(-300)}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Pids of live processes whose command line or working directory mentions `needle` (Linux /proc). */
export async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`)).toString('utf8');
      const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
      if ((cmdline.includes(needle) || cwd.includes(needle)) && (await readStatus(entry)) !== 'Z') pids.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return pids;
}

async function readStatus(pid: string): Promise<string> {
  const fh = await open(`/proc/${pid}/stat`, 'r');
  try {
    const text = (await fh.readFile()).toString('utf8');
    return text.slice(text.lastIndexOf(')') + 2, text.lastIndexOf(')') + 3);
  } finally {
    await fh.close();
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
