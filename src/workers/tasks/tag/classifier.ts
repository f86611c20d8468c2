import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { TremoloError } from '../../../protocol/errors.ts';
import { resizeToTensor } from './image.ts';
import type { SessionCache, SessionSpec } from './sessions.ts';
import type { ClassifierLabel, ClassifierOptions, RawImage, TaggerDevice } from './types.ts';

/**
 * Any ONNX image classifier taking float32 [1,3,size,size] RGB, normalised with the configured
 * mean/std, and giving one score per label. No classifier ships with the project, so this stays
 * model-agnostic: scores that are not already probabilities are treated as logits.
 */
export class ImageClassifier {
  readonly session: ort.InferenceSession;
  readonly device: TaggerDevice;
  readonly labels: readonly string[];
  readonly options: ClassifierOptions;

  private constructor(session: ort.InferenceSession, device: TaggerDevice, labels: string[], options: ClassifierOptions) {
    this.session = session;
    this.device = device;
    this.labels = labels;
    this.options = options;
  }

  static async load(sessions: SessionCache, spec: SessionSpec, options: ClassifierOptions): Promise<ImageClassifier> {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`classifier size must be a positive integer`);
    if (options.std.some((s) => s === 0)) throw new RangeError('classifier std must not contain 0');
    const [loaded, labelsText] = await Promise.all([
      sessions.get(options.modelPath, spec),
      readFile(options.labelsPath, 'utf8').catch((err: unknown) => {
        throw new TremoloError('E_TAGGING_FAILED', 'The classifier labels file cannot be read', { cause: err });
      }),
    ]);
    const labels = labelsText.split('\n').map((l) => l.trim());
    while (labels.at(-1) === '') labels.pop();
    return new ImageClassifier(loaded.session, loaded.device, labels, options);
  }

  /** Probability of each label for one image. */
  async classify(img: RawImage): Promise<Float32Array> {
    const { size, mean, std } = this.options;
    const data = resizeToTensor(img, size, size, { order: 'rgb', mean, std });
    const input = new ort.Tensor('float32', data, [1, 3, size, size]);
    const out = await this.session.run({ [this.session.inputNames[0] ?? 'input']: input });
    const scores = out[this.session.outputNames[0] ?? ''];
    if (!scores || !(scores.data instanceof Float32Array)) {
      throw new TremoloError('E_TAGGING_FAILED', 'The classifier gave no float output');
    }
    if (scores.data.length !== this.labels.length) {
      throw new TremoloError('E_TAGGING_FAILED', `The classifier gives ${scores.data.length} scores but has ${this.labels.length} labels`);
    }
    return toProbabilities(scores.data);
  }

  /** Labels of a set of frames: probabilities averaged over the frames, then top-k over threshold. */
  async classifyFrames(images: readonly RawImage[]): Promise<ClassifierLabel[]> {
    if (images.length === 0) return [];
    const sum = new Float32Array(this.labels.length);
    for (const img of images) {
      const p = await this.classify(img);
      for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] ?? 0) + (p[i] ?? 0);
    }
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] ?? 0) / images.length;
    return topLabels(sum, this.labels, this.options.topK, this.options.threshold);
  }
}

/** Scores already in [0,1] summing to 1 are kept; anything else gets a softmax. */
export function toProbabilities(scores: Float32Array): Float32Array {
  let sum = 0;
  let inRange = true;
  for (const s of scores) {
    sum += s;
    if (s < 0 || s > 1) inRange = false;
  }
  if (inRange && Math.abs(sum - 1) < 1e-3) return scores;
  const max = Math.max(...scores);
  const exp = scores.map((s) => Math.exp(s - max));
  const total = exp.reduce((a, b) => a + b, 0);
  return exp.map((e) => e / total);
}

/** The `topK` most probable labels whose probability is at least `threshold`, best first. */
export function topLabels(probs: Float32Array, labels: readonly string[], topK: number, threshold: number): ClassifierLabel[] {
  return [...probs]
    .map((score, i) => ({ label: labels[i] ?? String(i), score }))
    .filter((l) => l.score >= threshold)
    .sort((a, b) => b.score - a.score)
    .slice(0, topK)
    .map((l) => ({ label: l.label, score: Math.round(l.score * 10000) / 10000 }));
}
