/**
 * Generated test media for the tagging tests and the OCR bench: frames with rendered text,
 * solid colours, speech (espeak-ng), tones and silence (ffmpeg lavfi). Everything goes into a
 * fresh folder under os.tmpdir() that `cleanup()` removes.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveBinaries } from '../../src/workers/media/tools.ts';

const run = promisify(execFile);

/** The ffmpeg the server uses by default (`ffmpeg` on PATH, or FFMPEG_PATH). */
export const ffmpegPath: string = resolveBinaries({ ffmpegPath: process.env.FFMPEG_PATH }).ffmpegPath;

/** Fonts the CI installs: `apt-get install -y ffmpeg fonts-wqy-microhei fonts-dejavu-core espeak-ng`. */
export const FONTS = {
  latin: '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  cjk: '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc',
} as const;

const APT_HINT = 'install it with: apt-get install -y fonts-wqy-microhei fonts-dejavu-core espeak-ng';

/** The font file, or a clear failure naming the package that provides it. */
export function requireFont(kind: keyof typeof FONTS): string {
  const path = FONTS[kind];
  if (!existsSync(path)) throw new Error(`test font ${path} is missing; ${APT_HINT}`);
  return path;
}

/** A temporary folder for one suite's generated files. */
export class MediaScratch {
  readonly dir: string;
  #n = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<MediaScratch> {
    return new MediaScratch(await mkdtemp(join(tmpdir(), 'tremolo-tag-')));
  }

  path(ext: string): string {
    this.#n++;
    return join(this.dir, `m${this.#n}.${ext}`);
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * A PNG frame with each line drawn centred in its own row, black on white by default.
   * Text goes through `textfile=` so no drawtext escaping is involved.
   */
  async textFrame(opts: {
    lines: string[];
    font?: string;
    width?: number;
    height?: number;
    fontSize?: number;
    colour?: string;
    background?: string;
    /** Turns the finished frame by this many radians (clockwise), for rotated text boxes. */
    angle?: number;
  }): Promise<string> {
    const width = opts.width ?? 640;
    const height = opts.height ?? 360;
    const fontSize = opts.fontSize ?? 48;
    const font = opts.font ?? requireFont('cjk');
    const filters: string[] = [];
    const rowH = height / opts.lines.length;
    for (const [i, line] of opts.lines.entries()) {
      const textFile = this.path('txt');
      await writeFile(textFile, line, 'utf8');
      const y = Math.round(rowH * i + rowH / 2);
      filters.push(
        `drawtext=fontfile=${font}:textfile=${textFile}:fontsize=${fontSize}:fontcolor=${opts.colour ?? 'black'}` +
          `:x=(w-text_w)/2:y=${y}-text_h/2`,
      );
    }
    if (opts.angle) filters.push(`rotate=${opts.angle}:fillcolor=${opts.background ?? 'white'}`);
    const out = this.path('png');
    await ffmpeg([
      '-f', 'lavfi', '-i', `color=c=${opts.background ?? 'white'}:s=${width}x${height}:d=1`,
      '-vf', filters.join(','), '-frames:v', '1', out,
    ]);
    return out;
  }

  /** A PNG of one colour (any ffmpeg colour name or 0xRRGGBB). */
  async solidFrame(colour: string, width = 64, height = 64): Promise<string> {
    const out = this.path('png');
    await ffmpeg(['-f', 'lavfi', '-i', `color=c=${colour}:s=${width}x${height}:d=1`, '-frames:v', '1', out]);
    return out;
  }

  /** Spoken English from espeak-ng (a real speech signal: voiced phonemes, pauses, prosody). */
  async speechWav(text: string): Promise<string> {
    const out = this.path('wav');
    try {
      await run('espeak-ng', ['-s', '150', '-w', out, text]);
    } catch (err) {
      throw new Error(`espeak-ng failed (${(err as Error).message}); ${APT_HINT}`);
    }
    return out;
  }

  async toneWav(frequency: number, seconds: number): Promise<string> {
    const out = this.path('wav');
    await ffmpeg(['-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=16000:duration=${seconds}`, out]);
    return out;
  }

  async silenceWav(seconds: number): Promise<string> {
    const out = this.path('wav');
    await ffmpeg(['-f', 'lavfi', '-i', `anullsrc=r=16000:cl=mono`, '-t', String(seconds), out]);
    return out;
  }

  /** White noise, a harder non-speech case than a pure tone. */
  async noiseWav(seconds: number, amplitude = 0.3): Promise<string> {
    const out = this.path('wav');
    await ffmpeg(['-f', 'lavfi', '-i', `anoisesrc=r=16000:a=${amplitude}:d=${seconds}`, out]);
    return out;
  }

  /** An MP4 with video only, no audio track. */
  async silentVideo(seconds = 1): Promise<string> {
    const out = this.path('mp4');
    await ffmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=10:duration=${seconds}`,
      '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out,
    ]);
    return out;
  }

  /** An MP4 whose audio track is the given WAV. */
  async videoWithAudio(wav: string): Promise<string> {
    const out = this.path('mp4');
    await ffmpeg([
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-i', wav,
      '-shortest', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', out,
    ]);
    return out;
  }
}

async function ffmpeg(args: string[]): Promise<void> {
  await run(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
}

/** Levenshtein distance over Unicode code points. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (x[i - 1] === y[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[y.length] ?? 0;
}

/**
 * Character accuracy of a reading against the expected text: 1 - editDistance / length,
 * floored at 0. Whitespace is ignored on both sides: the recogniser often merges the gap
 * between a Latin word and a CJK run, which is not a reading error.
 */
export function characterAccuracy(expected: string, read: string): number {
  const e = expected.replace(/\s+/g, '');
  const r = read.replace(/\s+/g, '');
  if (e.length === 0) return r.length === 0 ? 1 : 0;
  return Math.max(0, 1 - editDistance(e, r) / [...e].length);
}

// --- a minimal ONNX protobuf writer: just the fields a tiny model needs ---

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, n: number): number[] => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: ArrayLike<number>): number[] => [...key(field, 2), ...varint(b.length), ...Array.from(b)];
const str = (field: number, s: string): number[] => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, parts: number[][]): number[] => bytes(field, parts.flat());

const FLOAT = 1;
/** ValueInfoProto{name, type: TypeProto{tensor_type{elem_type, shape{dim{dim_value}}}}} */
const valueInfo = (field: number, name: string, dims: number[]): number[] =>
  msg(field, [str(1, name), msg(2, [msg(1, [int(1, FLOAT), msg(2, dims.map((d) => msg(1, [int(1, d)])))])])]);
/** NodeProto{input*, output*, name, op_type, attribute{name, i, type=INT}*} */
const node = (op: string, inputs: string[], outputs: string[], intAttrs: Record<string, number> = {}): number[] =>
  msg(1, [
    ...inputs.map((i) => str(1, i)),
    ...outputs.map((o) => str(2, o)),
    str(3, `${op}_${outputs[0]}`),
    str(4, op),
    ...Object.entries(intAttrs).map(([name, v]) => msg(5, [str(1, name), int(3, v), int(20, 2)])),
  ]);
/** TensorProto{dims*, data_type, name, raw_data} */
const initializer = (name: string, dims: number[], values: number[]): number[] =>
  msg(5, [...dims.map((d) => int(1, d)), int(2, FLOAT), str(8, name), bytes(9, new Uint8Array(new Float32Array(values).buffer))]);

/**
 * An RGB "colour classifier": GlobalAveragePool -> Flatten -> Gemm(W = 10·I) [-> Softmax],
 * so the mean of each channel becomes the logit of red, green or blue.
 */
export function colourModel(size: number, withSoftmax: boolean): Uint8Array {
  const out = withSoftmax ? 'probs' : 'logits';
  const graph = [
    node('GlobalAveragePool', ['x'], ['pooled']),
    node('Flatten', ['pooled'], ['flat'], { axis: 1 }),
    node('Gemm', ['flat', 'W', 'B'], ['logits']),
    ...(withSoftmax ? [node('Softmax', ['logits'], ['probs'], { axis: 1 })] : []),
    str(2, 'colours'),
    initializer('W', [3, 3], [10, 0, 0, 0, 10, 0, 0, 0, 10]),
    initializer('B', [3], [0, 0, 0]),
    valueInfo(11, 'x', [1, 3, size, size]),
    valueInfo(12, out, [1, 3]),
  ];
  // ModelProto{ir_version=7, graph, opset_import{domain "", version 13}}
  return new Uint8Array([...int(1, 7), ...msg(7, graph), ...msg(8, [str(1, ''), int(2, 13)])]);
}
