import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { TremoloError } from '../../../protocol/errors.ts';
import { demuxerOptions } from '../../media/containers.ts';
import { resolveBinaries } from '../../media/tools.ts';
import type { RawImage } from './types.ts';

/** `ffmpeg` from PATH; FFMPEG_PATH reaches the tasks as `options.ffmpegPath`. */
export const defaultFfmpegPath: string = resolveBinaries().ffmpegPath;

/**
 * Input options for a file the pipeline wrote itself (keyframes, the 16 kHz WAV, the MP4):
 * its demuxer named from its extension, local files only. Nothing is left for ffmpeg to
 * guess, so a file can never be opened as a playlist that reads others.
 */
export function ownFileInput(path: string): string[] {
  const ext = extname(path).toLowerCase();
  const demuxer: Record<string, string[]> = {
    '.jpg': ['-protocol_whitelist', 'file', '-f', 'jpeg_pipe'],
    '.jpeg': ['-protocol_whitelist', 'file', '-f', 'jpeg_pipe'],
    '.png': ['-protocol_whitelist', 'file', '-f', 'png_pipe'],
    '.wav': ['-protocol_whitelist', 'file', '-f', 'wav'],
    '.mp4': demuxerOptions('mov'),
  };
  const options = demuxer[ext];
  if (!options) throw new TremoloError('E_MEDIA_INVALID', `Files of type ${ext || '(none)'} are not decoded here`);
  return options;
}

/** Most bytes read from one ffmpeg run, so a hostile file cannot exhaust worker memory. */
const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

interface FfmpegRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs ffmpeg without a shell and collects its stdout (the decoded media) and stderr. */
export function runFfmpeg(ffmpegPath: string, args: readonly string[]): Promise<FfmpegRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath, ['-hide_banner', '-nostdin', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_OUTPUT_BYTES) {
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      // Only the tail matters for diagnosis.
      stderr = (stderr + c.toString('utf8')).slice(-4000);
    });
    child.on('error', (err) =>
      reject(new TremoloError('E_TAGGING_FAILED', 'ffmpeg could not be started', { cause: err })),
    );
    child.on('close', (code) => {
      if (size > MAX_OUTPUT_BYTES) {
        reject(new TremoloError('E_MEDIA_INVALID', 'The decoded media is larger than allowed'));
        return;
      }
      resolve({ code, stdout: Buffer.concat(chunks), stderr });
    });
  });
}

/**
 * Decodes the first frame of an image (or video) file to 8-bit RGB. ffmpeg writes a binary PPM,
 * whose small header carries the size, so no separate probe is needed.
 */
export async function decodeImage(path: string, ffmpegPath: string = defaultFfmpegPath): Promise<RawImage> {
  const run = await runFfmpeg(ffmpegPath, [
    '-v', 'error', ...ownFileInput(path), '-i', path, '-frames:v', '1', '-f', 'image2pipe', '-vcodec', 'ppm', '-pix_fmt', 'rgb24', 'pipe:1',
  ]);
  if (run.code !== 0 || run.stdout.length === 0) {
    throw new TremoloError('E_MEDIA_INVALID', 'The image could not be decoded', {
      cause: new Error(run.stderr.trim() || `ffmpeg exited with ${run.code}`),
    });
  }
  return parsePpm(run.stdout);
}

/** Parses a binary (P6, maxval 255) PPM as written by ffmpeg. */
export function parsePpm(buf: Buffer): RawImage {
  const fields: string[] = [];
  let i = 0;
  while (fields.length < 4 && i < buf.length) {
    while (i < buf.length && isSpace(buf[i] ?? 0)) i++;
    if (buf[i] === 0x23) {
      while (i < buf.length && buf[i] !== 0x0a) i++; // comment line
      continue;
    }
    const start = i;
    while (i < buf.length && !isSpace(buf[i] ?? 0)) i++;
    fields.push(buf.toString('latin1', start, i));
  }
  i++; // the single whitespace byte after maxval
  const [magic, w, h, max] = fields;
  const width = Number(w);
  const height = Number(h);
  if (magic !== 'P6' || max !== '255' || !(width > 0) || !(height > 0) || buf.length - i < width * height * 3) {
    throw new TremoloError('E_MEDIA_INVALID', 'The image could not be decoded');
  }
  return { data: new Uint8Array(buf.buffer, buf.byteOffset + i, width * height * 3), width, height, order: 'rgb' };
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * Decodes the first audio track to 16 kHz mono float PCM, at most `maxSeconds` of it.
 * Returns null when the file has no audio track; throws E_MEDIA_INVALID when it cannot be read.
 */
export async function decodeAudio16k(
  path: string,
  ffmpegPath: string = defaultFfmpegPath,
  maxSeconds = 600,
): Promise<Float32Array | null> {
  const run = await runFfmpeg(ffmpegPath, [
    '-v', 'error', ...ownFileInput(path), '-i', path, '-map', '0:a:0?', '-vn', '-t', String(maxSeconds),
    '-ac', '1', '-ar', '16000', '-f', 'f32le', 'pipe:1',
  ]);
  if (run.code !== 0) {
    // With an optional map and no audio stream, ffmpeg has nothing to write and says so.
    if (/does not contain any stream|matches no streams/i.test(run.stderr)) return null;
    throw new TremoloError('E_MEDIA_INVALID', 'The audio track could not be decoded', {
      cause: new Error(run.stderr.trim() || `ffmpeg exited with ${run.code}`),
    });
  }
  const n = Math.floor(run.stdout.length / 4);
  // Copy into an aligned buffer: the pooled Buffer's offset need not be a multiple of 4.
  const pcm = new Float32Array(n);
  for (let k = 0; k < n; k++) pcm[k] = run.stdout.readFloatLE(k * 4);
  return pcm;
}
