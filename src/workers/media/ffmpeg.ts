/**
 * ffmpeg and ffprobe, as the media tasks use them: which binaries, what a video is
 * (probe), and running one ffmpeg invocation with progress and a hard stop.
 *
 * A plan (`FfmpegPlan`) is plain data so the same command can be run through
 * fluent-ffmpeg (the task) or spawned directly (the bench's baseline) and compared.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { TremoloError } from '../../protocol/errors.ts';
import { stoppedError } from '../task-protocol.ts';
import { demuxerOptions, FORMAT_NAMES, sniffContainer, truncationOf, type Container } from './containers.ts';
import { resolveBinaries } from './tools.ts';

export { resolveBinaries, type MediaBinaries } from './tools.ts';

/** What the pipeline needs to know about an uploaded video. */
export interface MediaProbe {
  /** The demuxer the file was probed with, chosen from its signature; every later ffmpeg run on it uses the same. */
  container: Container;
  durationS: number;
  /** Stored frame size; see `rotation` for how it is displayed. */
  width: number;
  height: number;
  fps: number;
  videoCodec: string;
  audioCodec?: string;
  /** Overall bits per second. */
  bitrate: number;
  /** Degrees clockwise the stored frames are turned for display: 0, 90, 180 or 270. */
  rotation: 0 | 90 | 180 | 270;
}

/** Frame size as displayed, after rotation. */
export function displaySize(p: Pick<MediaProbe, 'width' | 'height' | 'rotation'>): { width: number; height: number } {
  return p.rotation === 90 || p.rotation === 270 ? { width: p.height, height: p.width } : { width: p.width, height: p.height };
}

export interface ProbeOptions {
  ffprobePath?: string | undefined;
  /** Longer videos are refused with E_MEDIA_TOO_LONG (VIDEO_MAX_SECONDS). */
  maxDurationS?: number | undefined;
  /** ffprobe gets this long before the file counts as unreadable. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  duration?: string;
  bit_rate?: string;
  disposition?: { attached_pic?: number };
  tags?: { rotate?: string };
  side_data_list?: { side_data_type?: string; rotation?: number | string }[];
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string; bit_rate?: string; size?: string };
}

const invalid = (reason: string, cause?: unknown): TremoloError =>
  new TremoloError('E_MEDIA_INVALID', `The file is not a playable video: ${reason}`, cause === undefined ? {} : { cause });

/**
 * Reads a video's metadata; refuses what the pipeline cannot or must not process.
 *
 * The demuxer is decided from the file's signature (see containers.ts) and named to ffprobe,
 * never guessed; a file whose own index points past its end is refused as truncated.
 */
export async function probeMedia(source: string, opts: ProbeOptions = {}): Promise<MediaProbe> {
  // Absolute, so no part of the name can read as a protocol (`x:...`).
  const file = resolvePath(source);
  const size = await stat(file).then(
    (s) => (s.isFile() ? s.size : -1),
    () => -1,
  );
  if (size < 0) throw invalid('the file is missing');
  if (size === 0) throw invalid('the file is empty');
  const container = await sniffContainer(file);
  const cut = await truncationOf(file, container);
  if (cut !== null) throw invalid(cut);
  if (opts.signal?.aborted) throw stoppedError(opts.signal);

  const raw = await ffprobe(file, container, ['-show_format', '-show_streams'], opts);
  let out: FfprobeOutput;
  try {
    out = JSON.parse(raw) as FfprobeOutput;
  } catch (err) {
    throw invalid('its metadata could not be read', err);
  }
  const streams = out.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  if (!video) throw invalid('it has no video stream');
  const audio = streams.find((s) => s.codec_type === 'audio');
  const width = video.width ?? 0;
  const height = video.height ?? 0;
  if (width <= 0 || height <= 0) throw invalid('the video stream has no frame size');

  // Forced with -f, so anything else means a tool that does not honour it: refuse rather than trust.
  if (out.format?.format_name !== FORMAT_NAMES[container]) throw invalid(`it was read as ${out.format?.format_name ?? 'nothing'}, not ${container}`);
  // A live recording (a browser's MediaRecorder WebM) states no duration: its packets do.
  const durationS = Number(out.format?.duration ?? video.duration ?? (await lastPacketEnd(file, container, opts)));
  if (!Number.isFinite(durationS) || durationS <= 0) throw invalid('it has no duration');
  const fps = parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate);
  if (!(fps > 0) || fps > 1000) throw invalid('the frame rate is unknown');

  if (opts.maxDurationS !== undefined && durationS > opts.maxDurationS) {
    throw new TremoloError('E_MEDIA_TOO_LONG', `The video is ${Math.ceil(durationS)} s long; at most ${opts.maxDurationS} s are allowed`, {
      details: { durationS, maxDurationS: opts.maxDurationS },
    });
  }

  const bitrate = Number(out.format?.bit_rate) || Math.round((size * 8) / durationS);
  return {
    container,
    durationS,
    width,
    height,
    fps: Math.round(fps * 1000) / 1000,
    videoCodec: video.codec_name ?? 'unknown',
    ...(audio ? { audioCodec: audio.codec_name ?? 'unknown' } : {}),
    bitrate,
    rotation: rotationOf(video),
  };
}

/** Runs ffprobe on an upload with its demuxer named and local files only; JSON on stdout. */
function ffprobe(file: string, container: Container, show: string[], opts: ProbeOptions): Promise<string> {
  const ffprobePath = opts.ffprobePath ?? resolveBinaries().ffprobePath;
  const args = ['-v', 'error', ...demuxerOptions(container), '-print_format', 'json', ...show, '-i', file];
  return new Promise<string>((resolve, reject) => {
    execFile(
      ffprobePath,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20, killSignal: 'SIGKILL', ...(opts.signal ? { signal: opts.signal } : {}) },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        if (opts.signal?.aborted) return reject(stoppedError(opts.signal));
        if (e.code === 'ENOENT') return reject(new TremoloError('E_INTERNAL', undefined, { cause: `ffprobe not found at ${ffprobePath}` }));
        const detail = String(stderr).trim().split('\n').slice(-3).join(' | ') || e.message;
        if (e.killed || e.signal) return reject(invalid('it could not be read (the probe was stopped or crashed)', detail));
        reject(invalid('the format is not recognised or the file is corrupt', detail));
      },
    );
  });
}

/** Seconds to the end of the first video stream's last packet (packets are read, not decoded); undefined when none. */
async function lastPacketEnd(file: string, container: Container, opts: ProbeOptions): Promise<number | undefined> {
  const raw = await ffprobe(file, container, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,duration_time'], opts);
  let end: number | undefined;
  try {
    for (const p of (JSON.parse(raw) as { packets?: { pts_time?: string; duration_time?: string }[] }).packets ?? []) {
      const t = Number(p.pts_time) + (Number(p.duration_time) || 0);
      if (Number.isFinite(t)) end = Math.max(end ?? 0, t);
    }
  } catch (err) {
    throw invalid('its packets could not be read', err);
  }
  return end;
}

function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [n, d] = rate.split('/').map(Number);
  if (n === undefined || !Number.isFinite(n)) return 0;
  if (d === undefined) return n;
  return d > 0 ? n / d : 0;
}

/** Rotation from the display matrix (newer muxers) or the legacy `rotate` tag. */
function rotationOf(s: FfprobeStream): MediaProbe['rotation'] {
  const matrix = s.side_data_list?.find((d) => d.rotation !== undefined);
  // The display matrix states counter-clockwise rotation; the tag states clockwise.
  const deg = matrix ? -Number(matrix.rotation) : Number(s.tags?.rotate ?? 0);
  const norm = (((Math.round((Number.isFinite(deg) ? deg : 0) / 90) * 90) % 360) + 360) % 360;
  return norm as MediaProbe['rotation'];
}

/** One ffmpeg invocation as data. Output paths are relative to `cwd`. */
export interface FfmpegPlan {
  cwd: string;
  inputs: { path: string; options: string[] }[];
  filterGraph?: string;
  outputs: { path: string; options: string[] }[];
}

/** The argument vector fluent-ffmpeg builds for a plan (same order), for direct spawning. */
export function ffmpegArgs(plan: FfmpegPlan): string[] {
  return [
    ...plan.inputs.flatMap((i) => [...i.options, '-i', i.path]),
    '-y',
    ...(plan.filterGraph ? ['-filter_complex', plan.filterGraph] : []),
    ...plan.outputs.flatMap((o) => [...o.options, o.path]),
  ];
}

/** Seconds of output written so far, from an ffmpeg stats line (`... time=00:00:03.52 ...`). */
export function parseTimemark(line: string): number | null {
  const m = /time=\s*(-?)(\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(line);
  if (!m || m[1] === '-') return null;
  return Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

export interface RunFfmpegOptions {
  ffmpegPath: string;
  signal?: AbortSignal | undefined;
  /** Expected output duration, to turn timemarks into a fraction. */
  durationS?: number | undefined;
  /** 0..1 as ffmpeg advances. */
  onProgress?: ((fraction: number) => void) | undefined;
}

/**
 * Runs a plan through fluent-ffmpeg. An abort kills ffmpeg with SIGKILL (it must stop now,
 * not finish the segment it is writing) and resolves only once the process has exited,
 * so the caller may delete the output right after.
 */
export function runFfmpeg(plan: FfmpegPlan, opts: RunFfmpegOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const { signal } = opts;
    if (signal?.aborted) return reject(stoppedError(signal));
    const cmd = ffmpeg({ cwd: plan.cwd, stdoutLines: 0 }).setFfmpegPath(opts.ffmpegPath);
    for (const input of plan.inputs) {
      cmd.input(input.path);
      if (input.options.length) cmd.inputOptions(...input.options);
    }
    if (plan.filterGraph) cmd.complexFilter(plan.filterGraph);
    for (const output of plan.outputs) {
      cmd.output(output.path);
      if (output.options.length) cmd.outputOptions(...output.options);
    }
    const kill = (): void => {
      cmd.kill('SIGKILL');
    };
    signal?.addEventListener('abort', kill, { once: true });
    const errorLines: string[] = [];
    cmd.on('start', () => {
      // The abort may have fired between run() and the spawn, when there was nothing to kill.
      if (signal?.aborted) kill();
    });
    cmd.on('stderr', (line: string) => {
      const t = parseTimemark(line);
      if (t !== null) {
        if (opts.durationS && opts.onProgress) opts.onProgress(Math.min(1, t / opts.durationS));
      } else if (line.trim()) {
        errorLines.push(line.trim());
        if (errorLines.length > 5) errorLines.shift();
      }
    });
    cmd.on('end', () => {
      signal?.removeEventListener('abort', kill);
      resolve();
    });
    cmd.on('error', (err: Error) => {
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return reject(stoppedError(signal));
      if (/ENOENT|Cannot find ffmpeg/i.test(err.message)) {
        return reject(new TremoloError('E_INTERNAL', undefined, { cause: `ffmpeg not found at ${opts.ffmpegPath}` }));
      }
      reject(
        new TremoloError('E_MEDIA_INVALID', 'The video could not be transcoded: the stream is corrupt or unsupported', {
          cause: `${err.message}: ${errorLines.join(' | ')}`,
        }),
      );
    });
    cmd.run();
  });
}
