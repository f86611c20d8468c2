/**
 * Types shared by the tagging task and whoever runs it (the media pipeline, the bench).
 * They cross the worker-thread boundary, so they hold only structured-cloneable data.
 */

export type TaggerDevice = 'cpu' | 'cuda';

/** An optional image classifier: any ONNX model taking float32 [1,3,size,size] in RGB order. */
export interface ClassifierOptions {
  modelPath: string;
  /** Labels file, one label a line, in the order of the model's output. */
  labelsPath: string;
  size: number;
  /** Per-channel mean and std (RGB) applied to pixels scaled to [0,1]. */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  topK: number;
  /** Least probability for a label to become a tag. */
  threshold: number;
}

/** What the tagger needs from config (TAGGER_*), passed in rather than read from the environment. */
export interface TaggerOptions {
  device: TaggerDevice;
  /** Intra-op threads per ONNX session. */
  threads: number;
  classifier?: ClassifierOptions;
}

export type Point = [number, number];
/** Four corners in image pixels: top-left, top-right, bottom-right, bottom-left of the text line. */
export type Quad = [Point, Point, Point, Point];

export interface OcrLine {
  text: string;
  /** Mean per-character probability of the recognised text, 0..1. */
  confidence: number;
  box: Quad;
}

export interface SpeechSegment {
  startS: number;
  endS: number;
}

export interface SpeechSummary {
  /** Share of the audio's duration that is speech, 0..1 (0 without an audio track). */
  ratio: number;
  segments: SpeechSegment[];
}

export interface ClassifierLabel {
  label: string;
  score: number;
}

/** Pixel size of an image. */
export interface FrameSize {
  width: number;
  height: number;
}

/** The models the tagger runs. */
export type TaggingModel = 'ocr' | 'speech' | 'classifier';

export interface TagResult {
  /** Normalised tags (src/domain/tags.ts): no leading `#`, lower case. */
  tags: string[];
  /** Text lines read from the keyframes, de-duplicated across frames. */
  ocr: OcrLine[];
  /** Size of the keyframes (the space of the OCR boxes); absent without keyframes. */
  frame?: FrameSize;
  speech: SpeechSummary;
  classifier?: ClassifierLabel[];
  /** Where the models actually ran (cuda falls back to cpu). */
  device: TaggerDevice;
  /** Seconds spent in each model that ran (its pre- and post-processing included), for metrics. */
  modelSeconds: Partial<Record<TaggingModel, number>>;
}

/** Input of the worker task `tag`. */
export interface TagInput {
  /** Keyframe image files (JPEG/PNG), in time order. */
  keyframes: string[];
  /**
   * A file the pipeline wrote whose audio track is analysed (the transcode's 16 kHz WAV, or
   * its MP4 when the video is silent); never the upload itself. JPEG/PNG/WAV/MP4 only.
   */
  videoPath: string;
  options: TaggerOptions & { ffmpegPath?: string };
}

/** Raw 8-bit pixels, 3 bytes a pixel, row-major. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  order: 'rgb' | 'bgr';
}
