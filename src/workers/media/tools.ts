/**
 * Which ffmpeg and ffprobe the media tasks run, and whether they are new enough to be trusted
 * with uploaded files.
 *
 * The binaries are the system's (Debian's `ffmpeg` package: 5.1 with security fixes) found on
 * PATH, unless FFMPEG_PATH / FFPROBE_PATH name others. No npm package ships a maintained ffmpeg
 * inside it (those that offer one download it at install time), and the static 2018 build
 * that one did opened uploads with demuxers that read other files.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export interface MediaBinaries {
  ffmpegPath: string;
  ffprobePath: string;
}

/** Oldest libavformat accepted: 59.27 is FFmpeg 5.1 (Debian 12's, maintained by its security team). */
export const MIN_LIBAVFORMAT: readonly [number, number] = [59, 27];
/** The release that libavformat version belongs to, for messages. */
export const MIN_FFMPEG_RELEASE = '5.1';

/**
 * Binaries to use: the configured ones (FFMPEG_PATH / FFPROBE_PATH), else `ffmpeg` and
 * `ffprobe` as found on PATH when they run.
 */
export function resolveBinaries(opts: { ffmpegPath?: string | undefined; ffprobePath?: string | undefined } = {}): MediaBinaries {
  return { ffmpegPath: opts.ffmpegPath || 'ffmpeg', ffprobePath: opts.ffprobePath || 'ffprobe' };
}

/** The executable file a command name or path stands for (as a shell would find it), or null. */
export async function findExecutable(command: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const candidates = command.includes('/')
    ? [resolve(command)]
    : (env.PATH ?? '').split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, command));
  for (const file of candidates) {
    const ok = await stat(file).then(
      (s) => s.isFile() && access(file, constants.X_OK).then(() => true, () => false),
      () => false,
    );
    if (ok) return file;
  }
  return null;
}

/** What `<tool> -version` says about itself. */
export interface ToolVersion {
  /** As printed: `5.1.9-0+deb12u1`, or `N-47683-g0e8eb07980-static` for a git build. */
  release: string;
  /** libavformat major, minor, micro; null when not printed. */
  libavformat: [number, number, number] | null;
}

/** Reads the banner of `ffmpeg -version` / `ffprobe -version`. */
export function parseToolVersion(output: string): ToolVersion | null {
  const release = /^\s*ff(?:mpeg|probe) version (\S+)/m.exec(output)?.[1];
  if (release === undefined) return null;
  const lib = /^\s*libavformat\s+(\d+)\.\s*(\d+)\.\s*(\d+)/m.exec(output);
  return { release, libavformat: lib ? [Number(lib[1]), Number(lib[2]), Number(lib[3])] : null };
}

/**
 * True when the build is FFmpeg 5.1 or newer. Judged by libavformat (the library that
 * opens files), because git builds print no release number.
 */
export function isSupported(v: ToolVersion): boolean {
  if (v.libavformat) {
    const [major, minor] = v.libavformat;
    return major > MIN_LIBAVFORMAT[0] || (major === MIN_LIBAVFORMAT[0] && minor >= MIN_LIBAVFORMAT[1]);
  }
  const m = /^n?(\d+)\.(\d+)/.exec(v.release);
  return m !== null && (Number(m[1]) > 5 || (Number(m[1]) === 5 && Number(m[2]) >= 1));
}

/** The outcome of the start-up check: the binaries to use (absolute paths), or why media processing is off. */
export type MediaToolsReport =
  | { ok: true; binaries: MediaBinaries; versions: { ffmpeg: string; ffprobe: string } }
  | { ok: false; reason: string };

/**
 * Finds both tools and checks they are FFmpeg 5.1 or newer. Never throws: a missing or old
 * tool is a report, so the server can run without media processing.
 */
export async function checkMediaTools(bins: MediaBinaries, opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<MediaToolsReport> {
  const check = async (name: 'ffmpeg' | 'ffprobe', command: string): Promise<{ path: string; release: string } | string> => {
    const path = await findExecutable(command, opts.env);
    if (!path) return command.includes('/') ? `${name} not found at ${command}` : `${name} not found on PATH (as ${command})`;
    const out = await new Promise<string | Error>((done) => {
      execFile(path, ['-version'], { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL' }, (err, stdout) => done(err ?? String(stdout)));
    });
    if (out instanceof Error) return `${name} at ${path} did not run: ${out.message}`;
    const version = parseToolVersion(out);
    if (!version) return `${path} does not look like ${name} (no version banner)`;
    if (!isSupported(version)) {
      const lib = version.libavformat ? `, libavformat ${version.libavformat.join('.')}` : '';
      return `${name} at ${path} is ${version.release}${lib}; ${MIN_FFMPEG_RELEASE} or newer is required`;
    }
    return { path, release: version.release };
  };
  const [ffmpeg, ffprobe] = await Promise.all([check('ffmpeg', bins.ffmpegPath), check('ffprobe', bins.ffprobePath)]);
  if (typeof ffmpeg === 'string') return { ok: false, reason: ffmpeg };
  if (typeof ffprobe === 'string') return { ok: false, reason: ffprobe };
  return { ok: true, binaries: { ffmpegPath: ffmpeg.path, ffprobePath: ffprobe.path }, versions: { ffmpeg: ffmpeg.release, ffprobe: ffprobe.release } };
}
