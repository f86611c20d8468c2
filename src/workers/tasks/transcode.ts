/**
 * Worker task `transcode`: one uploaded video -> everything the app serves and the tagger reads.
 *
 *   hls/master.m3u8, hls/<h>p/index.m3u8 + seg_NNN.ts   HLS ladder (720p and 480p, never upscaled)
 *   video.mp4                                           top rung as MP4 with faststart (fallback)
 *   poster.jpg                                          a frame ~1 s in
 *   keyframes/kf_NN.jpg                                 a handful of keyframes spread over the video
 *   audio.wav                                           16 kHz mono PCM, when the video has audio
 *
 * All of it comes from ONE ffmpeg invocation running single-threaded (`-threads 1`, x264
 * veryfast): the source is decoded once and split in the filter graph, and the top rung is
 * encoded once and written to both HLS and MP4 through the tee muxer. On a 2-core box the
 * pool runs two such tasks side by side, which beats one multi-threaded ffmpeg per task.
 *
 * Every rendition shares one timeline (RFC 8216 section 6.2.4: a player switching variants
 * relies on matching timestamps): each is muxed the same way, through tee to hls with the
 * MPEG-TS muxing delay pinned to 0, and each has IDR frames on the same grid, at most 2 s
 * apart (Apple's HLS authoring spec) and dividing the segment length, so segments align.
 *
 * The source is opened with the demuxer its probe named (`-f`, local files only), never one
 * ffmpeg guesses: a guessed HLS or concat demuxer would read other files into the output.
 *
 * Output is written to a staging directory beside `outDir` and renamed into place when
 * complete, so `outDir` is either a full result or absent; on failure or cancellation the
 * staging directory (the only thing this task created) is removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { TremoloError } from '../../protocol/errors.ts';
import { demuxerOptions, sniffContainer } from '../media/containers.ts';
import { displaySize, probeMedia, resolveBinaries, runFfmpeg, type FfmpegPlan, type MediaProbe } from '../media/ffmpeg.ts';
import { defineTask, epochMs, stoppedError, untracedTask, type TaskContext } from '../task-protocol.ts';

export interface TranscodeTaskInput {
  /** Source video file. */
  input: string;
  /** Final output directory; replaced if it exists. */
  outDir: string;
  ffmpegPath?: string;
  ffprobePath?: string;
  /** VIDEO_MAX_SECONDS, checked when the task probes the source itself. */
  maxDurationS?: number;
  /** The source's probe, when the caller already has it (saves an ffprobe run). */
  probe?: MediaProbe;
  /** Keyframes to extract for tagging (default 6). */
  keyframeCount?: number;
  /** Target HLS segment length in seconds (default 2; short videos start faster). */
  segmentS?: number;
}

export interface HlsVariant {
  height: number;
  width: number;
  /** Relative to the output dir. */
  playlist: string;
  /** Peak bits per second over the segments, as advertised in the master playlist. */
  bandwidth: number;
}

/** What a transcode produced; every path is relative to `dir`. */
export interface TranscodeManifest {
  dir: string;
  hls: { master: string; variants: HlsVariant[] };
  mp4: string;
  poster: string;
  keyframes: string[];
  audio?: string;
  probe: MediaProbe;
}

/** One rung of the ladder, named by its short side so portrait videos get 720x1280. */
interface Rung {
  name: string;
  short: number;
  width: number;
  height: number;
  maxrateK: number;
  audioK: number;
}

const LADDER = [
  { short: 720, maxrateK: 2500, audioK: 128 },
  { short: 480, maxrateK: 1200, audioK: 96 },
] as const;

const MAX_FPS = 30;
/** IDR frames at most this far apart (Apple's HLS authoring specification asks for 2 s). */
const MAX_KEYFRAME_INTERVAL_S = 2;

/** Seconds between IDR frames for a segment length: at most 2 s, and a whole number of them per segment. */
export function keyframeIntervalS(segmentS: number): number {
  if (!Number.isFinite(segmentS) || segmentS <= 0) throw new RangeError('segmentS must be a positive number of seconds');
  // the epsilon keeps 2 / 2 at one interval despite floating point
  return segmentS / Math.ceil(segmentS / MAX_KEYFRAME_INTERVAL_S - 1e-9);
}
const even = (n: number): number => Math.max(2, Math.round(n / 2) * 2);

/** The rungs for a source: the ladder's rungs no larger than the source, or the source's own size. */
export function ladderFor(probe: MediaProbe): Rung[] {
  const { width, height } = displaySize(probe);
  const short = Math.min(width, height);
  const chosen = LADDER.filter((r) => r.short <= short);
  const rungs = chosen.length ? chosen : [{ short: even(short), maxrateK: LADDER[LADDER.length - 1]!.maxrateK, audioK: 96 }];
  return rungs.map((r) => {
    const f = r.short / short;
    return { name: `${r.short}p`, short: r.short, width: even(width * f), height: even(height * f), maxrateK: r.maxrateK, audioK: r.audioK };
  });
}

export interface TranscodeLayout {
  rungs: Rung[];
  variantPlaylists: string[];
  mp4: string;
  poster: string;
  keyframeDir: string;
  audio?: string;
  master: string;
}

/**
 * The single ffmpeg invocation for a source, as data (also used by the bench's baseline).
 * `cwd` is the directory the outputs are written into.
 */
export function planTranscode(
  source: string,
  probe: MediaProbe,
  cwd: string,
  opts: { keyframeCount?: number | undefined; segmentS?: number | undefined } = {},
): { plan: FfmpegPlan; layout: TranscodeLayout } {
  const rungs = ladderFor(probe);
  const top = rungs[0]!;
  const seg = opts.segmentS ?? 2;
  const gop = keyframeIntervalS(seg);
  const kfCount = Math.max(1, opts.keyframeCount ?? 6);
  const hasAudio = probe.audioCodec !== undefined;
  const posterAt = Math.min(1, probe.durationS / 4);
  const kfEvery = probe.durationS / kfCount;
  const src = resolvePath(source);
  const demuxer = demuxerOptions(probe.container);

  const fps = probe.fps > MAX_FPS + 0.5 ? `fps=${MAX_FPS},` : '';
  const branches = rungs.map((_, i) => `[s${i}]`).join('');
  const graph = [
    `[0:v]${fps}split=${rungs.length + 1}${branches}[sp]`,
    ...rungs.map((r, i) => `[s${i}]scale=${r.width}:${r.height},setsar=1[v${i}]`),
    `[sp]select='gte(t,${posterAt.toFixed(3)})',scale=${top.width}:${top.height},setsar=1,setpts=PTS-STARTPTS[poster]`,
    // Only keyframes are decoded (-skip_frame nokey); keep those at least kfEvery apart and
    // renumber them so the image muxer's constant frame rate does not duplicate any.
    `[1:v]select='isnan(prev_selected_t)+gte(t-prev_selected_t,${kfEvery.toFixed(3)})',scale=${top.width}:${top.height},setsar=1,setpts=N/FRAME_RATE/TB[kf]`,
  ].join(';');

  const video = (i: number, r: Rung): string[] => [
    '-map', `[v${i}]`,
    ...(hasAudio ? ['-map', '0:a:0'] : []),
    '-c:v', 'libx264', '-preset', 'veryfast', '-threads', '1',
    '-profile:v', 'high', '-level:v', '3.1', '-pix_fmt', 'yuv420p',
    '-crf', '23', '-maxrate', `${r.maxrateK}k`, '-bufsize', `${r.maxrateK * 2}k`,
    // IDR frames on the same time grid in every rung and nowhere else (no scene-cut
    // keyframes), so segments and switch points align for bitrate switching.
    '-force_key_frames', `expr:gte(t,n_forced*${gop})`, '-forced-idr', '1', '-sc_threshold', '0',
    ...(hasAudio ? ['-c:a', 'aac', '-b:a', `${r.audioK}k`, '-ac', '2'] : []),
  ];
  const variantPlaylists = rungs.map((r) => `hls/${r.name}/index.m3u8`);
  const mp4 = 'video.mp4';
  // One muxer stack for every rendition. A plain `-f hls` output inherits ffmpeg's default
  // -muxdelay (0.7 s), which MPEG-TS turns into a 1.4 s timestamp offset, while a tee slave
  // gets none: renditions muxed the two ways start 1.4 s apart and a player switching
  // between them replays or skips that much. max_delay=0 pins it for every rendition.
  const hlsSlave = (i: number, dir: string): string =>
    `[f=hls:max_delay=0:hls_time=${seg}:hls_playlist_type=vod:hls_flags=independent_segments:hls_segment_filename=${dir}/seg_%03d.ts]${variantPlaylists[i]}`;

  const outputs: FfmpegPlan['outputs'] = rungs.map((r, i) => {
    const slave = hlsSlave(i, `hls/${r.name}`);
    if (i > 0) return { path: slave, options: [...video(i, r), '-f', 'tee'] };
    // Encode the top rung once; tee writes it to both the MP4 fallback (which needs the
    // codec headers out of band) and the HLS variant.
    return { path: `[f=mp4:movflags=+faststart]${mp4}|${slave}`, options: [...video(i, r), '-flags', '+global_header', '-f', 'tee'] };
  });
  outputs.push({ path: 'poster.jpg', options: ['-map', '[poster]', '-frames:v', '1', '-q:v', '3'] });
  outputs.push({ path: 'keyframes/kf_%02d.jpg', options: ['-map', '[kf]', '-frames:v', String(kfCount), '-q:v', '4'] });
  if (hasAudio) {
    outputs.push({ path: 'audio.wav', options: ['-map', '0:a:0', '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le'] });
  }

  const plan: FfmpegPlan = {
    cwd,
    inputs: [
      // Global options ride on the first input; ffmpeg accepts them anywhere before the outputs.
      { path: src, options: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-stats', '-filter_complex_threads', '1', '-threads', '1', ...demuxer] },
      { path: src, options: ['-threads', '1', '-skip_frame', 'nokey', ...demuxer] },
    ],
    filterGraph: graph,
    outputs,
  };
  return {
    plan,
    layout: {
      rungs,
      variantPlaylists,
      mp4,
      poster: 'poster.jpg',
      keyframeDir: 'keyframes',
      ...(hasAudio ? { audio: 'audio.wav' } : {}),
      master: 'hls/master.m3u8',
    },
  };
}

/** Directories the plan writes into, created before ffmpeg starts (its muxers do not). */
export async function prepareOutputDirs(cwd: string, layout: TranscodeLayout): Promise<void> {
  await mkdir(join(cwd, layout.keyframeDir), { recursive: true });
  for (const p of layout.variantPlaylists) await mkdir(join(cwd, dirname(p)), { recursive: true });
}

/** Segment URIs and durations of a media playlist. */
export function parseMediaPlaylist(text: string): { uri: string; durationS: number }[] {
  const out: { uri: string; durationS: number }[] = [];
  let pending: number | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#EXTINF:')) pending = Number.parseFloat(line.slice(8));
    else if (line && !line.startsWith('#') && pending !== null) {
      out.push({ uri: line, durationS: pending });
      pending = null;
    }
  }
  return out;
}

async function peakBandwidth(playlistPath: string): Promise<{ peak: number; average: number }> {
  const segments = parseMediaPlaylist(await readFile(playlistPath, 'utf8'));
  let peak = 0;
  let bits = 0;
  let seconds = 0;
  for (const s of segments) {
    const size = (await stat(join(dirname(playlistPath), s.uri))).size;
    const d = Math.max(s.durationS, 0.001);
    peak = Math.max(peak, (size * 8) / d);
    bits += size * 8;
    seconds += d;
  }
  if (segments.length === 0) throw new TremoloError('E_MEDIA_INVALID', 'The video could not be transcoded: no segments were produced');
  return { peak: Math.ceil(peak), average: Math.ceil(bits / seconds) };
}

/** Master playlist written by us rather than ffmpeg, so it carries measured bandwidths. */
function masterPlaylist(layout: TranscodeLayout, bands: { peak: number; average: number }[], hasAudio: boolean): string {
  // high profile, level 3.1 (forced in the plan); AAC-LC
  const codecs = hasAudio ? 'avc1.64001f,mp4a.40.2' : 'avc1.64001f';
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-INDEPENDENT-SEGMENTS'];
  layout.rungs.forEach((r, i) => {
    const b = bands[i]!;
    lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${b.peak},AVERAGE-BANDWIDTH=${b.average},RESOLUTION=${r.width}x${r.height},CODECS="${codecs}"`);
    lines.push(`${r.name}/index.m3u8`);
  });
  return `${lines.join('\n')}\n`;
}

/** Runs the whole transcode in the calling thread (the worker task wraps this). */
export async function transcode(input: TranscodeTaskInput, ctx: Partial<TaskContext> = {}): Promise<TranscodeManifest> {
  const { signal } = ctx;
  const trace = ctx.trace ?? untracedTask;
  const report = (percent: number, stage: string): void => ctx.progress?.({ percent, stage });
  const bins = resolveBinaries({ ffmpegPath: input.ffmpegPath, ffprobePath: input.ffprobePath });
  const outDir = resolvePath(input.outDir);

  report(0, 'probe');
  const probe =
    input.probe ?? (await probeMedia(input.input, { ffprobePath: bins.ffprobePath, maxDurationS: input.maxDurationS, signal }));
  if (signal?.aborted) throw stoppedError(signal);
  // A probe handed in by the caller must still describe this file.
  if ((await sniffContainer(input.input)) !== probe.container) {
    throw new TremoloError('E_MEDIA_INVALID', 'The file is not a playable video: it changed since it was probed');
  }

  const staging = `${outDir}.partial-${randomBytes(6).toString('hex')}`;
  await mkdir(staging, { recursive: true });
  try {
    const { plan, layout } = planTranscode(input.input, probe, staging, { keyframeCount: input.keyframeCount, segmentS: input.segmentS });
    await prepareOutputDirs(staging, layout);
    report(2, 'transcode');
    const encodeStart = epochMs();
    await trace.span(
      'media.transcode.encode',
      () =>
        runFfmpeg(plan, {
          ffmpegPath: bins.ffmpegPath,
          signal,
          durationS: probe.durationS,
          onProgress: (f) => report(2 + f * 95, 'transcode'),
        }),
      { 'tremolo.media.renditions': layout.rungs.length, 'tremolo.media.duration_s': probe.durationS },
    );
    const encodeEnd = epochMs();

    report(97, 'package');
    const packageStart = epochMs();
    const keyframes = (await readdir(join(staging, layout.keyframeDir)))
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .map((f) => `${layout.keyframeDir}/${f}`);
    const required = [layout.mp4, layout.poster, ...layout.variantPlaylists, ...(layout.audio ? [layout.audio] : [])];
    for (const rel of required) {
      const ok = await stat(join(staging, rel)).then((s) => s.size > 0, () => false);
      if (!ok) throw new TremoloError('E_MEDIA_INVALID', 'The video could not be transcoded: it has no decodable frames', { cause: `missing ${rel}` });
    }
    const bands = await Promise.all(layout.variantPlaylists.map((p) => peakBandwidth(join(staging, p))));
    await writeFile(join(staging, layout.master), masterPlaylist(layout, bands, layout.audio !== undefined));
    if (signal?.aborted) throw stoppedError(signal);
    // One ffmpeg pass encodes every rendition at once (the source decoded once, split in the
    // filter graph): each rendition's span is that pass, with what the rendition came to.
    layout.rungs.forEach((r, i) =>
      trace.record('media.transcode.rendition', encodeStart, encodeEnd, {
        'tremolo.media.rendition': r.name,
        'tremolo.media.width': r.width,
        'tremolo.media.height': r.height,
        'tremolo.media.bandwidth': bands[i]!.peak,
      }),
    );
    trace.record('media.transcode.package', packageStart, epochMs(), { 'tremolo.media.keyframes': keyframes.length });

    await rm(outDir, { recursive: true, force: true });
    await rename(staging, outDir);
    report(100, 'done');
    return {
      dir: outDir,
      hls: {
        master: layout.master,
        variants: layout.rungs.map((r, i) => ({ height: r.height, width: r.width, playlist: layout.variantPlaylists[i]!, bandwidth: bands[i]!.peak })),
      },
      mp4: layout.mp4,
      poster: layout.poster,
      keyframes,
      ...(layout.audio ? { audio: layout.audio } : {}),
      probe,
    };
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

export default defineTask<TranscodeTaskInput, TranscodeManifest>((input, ctx) => transcode(input, ctx));
