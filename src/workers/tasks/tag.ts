/**
 * Worker-pool task: tags a video from its keyframes (on-screen text, optional image classifier)
 * and its audio track (speech). Runs inside a piscina worker; ONNX sessions are created on the
 * first task of each worker and reused by every later one (see tag/sessions.ts).
 */
import { normaliseTag, TagTokenizer } from '../../domain/tags.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { ImageClassifier } from './tag/classifier.ts';
import { keywordTags, dedupeLines } from './tag/keywords.ts';
import { decodeImage, defaultFfmpegPath } from './tag/media.ts';
import { OcrEngine } from './tag/ocr.ts';
import { workerSessions, type SessionSpec } from './tag/sessions.ts';
import { defineTask, stoppedError, untracedTask, type TaskContext } from '../task-protocol.ts';
import { SpeechDetector, speechTag } from './tag/speech.ts';
import type { ClassifierLabel, FrameSize, OcrLine, RawImage, TagInput, TaggerOptions, TaggingModel, TagResult } from './tag/types.ts';

export type { TagInput, TagResult, TaggerOptions } from './tag/types.ts';

/**
 * This worker thread's tokenizer (each piscina worker has its own module instance); its
 * Chinese dictionary loads with the first Chinese text and stays for the worker's life.
 */
const workerTokenizer = new TagTokenizer();

/**
 * Tags a video in the calling thread (the worker task below wraps this). Models are not
 * interruptible mid-run, so cancellation is checked between frames.
 */
export async function tag(input: TagInput, ctx: Partial<TaskContext> = {}, tokenizer: TagTokenizer = workerTokenizer): Promise<TagResult> {
  const { keyframes, videoPath, options } = validate(input);
  const { signal } = ctx;
  const trace = ctx.trace ?? untracedTask;
  const report = (percent: number): void => ctx.progress?.({ percent, stage: 'tag' });
  const ffmpegPath = options.ffmpegPath ?? defaultFfmpegPath;
  const spec: SessionSpec = { device: options.device, threads: options.threads };
  try {
    // the first task of a thread creates its ONNX sessions; later ones find them ready
    const [ocr, speech, classifier] = await trace.span('media.tag.load', () =>
      Promise.all([
        OcrEngine.load(workerSessions, spec),
        SpeechDetector.load(workerSessions, spec),
        options.classifier ? ImageClassifier.load(workerSessions, spec, options.classifier) : undefined,
      ]),
    );
    const modelSeconds: Partial<Record<TaggingModel, number>> = {};
    const timed = async <T>(model: TaggingModel, run: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await run();
      } finally {
        modelSeconds[model] = (modelSeconds[model] ?? 0) + (performance.now() - started) / 1000;
      }
    };
    // Frames are read one after another: each run already uses the session's threads.
    const readFrames = async (): Promise<{ lines: OcrLine[]; frame?: FrameSize; labels?: ClassifierLabel[] }> => {
      const lines: OcrLine[] = [];
      const images: RawImage[] = [];
      let frame: FrameSize | undefined;
      await trace.span(
        'media.tag.ocr',
        async (span) => {
          for (const [i, path] of keyframes.entries()) {
            if (signal?.aborted) throw stoppedError(signal);
            const img = await decodeImage(path, ffmpegPath);
            frame ??= { width: img.width, height: img.height };
            lines.push(...(await timed('ocr', () => ocr.read(img))));
            if (classifier) images.push(img);
            report(((i + 1) / keyframes.length) * 90);
          }
          span.set({ 'tremolo.tag.lines': lines.length });
        },
        { 'tremolo.tag.frames': keyframes.length, 'tremolo.tag.device': ocr.device },
      );
      const labels = classifier
        ? await trace.span('media.tag.classifier', () => timed('classifier', () => classifier.classifyFrames(images)), {
            'tremolo.tag.frames': images.length,
            'tremolo.tag.device': classifier.device,
          })
        : undefined;
      return { lines, ...(frame ? { frame } : {}), ...(labels ? { labels } : {}) };
    };
    report(0);
    const [frames, speechReport] = await Promise.all([
      readFrames(),
      trace.span(
        'media.tag.speech',
        async (span) => {
          const r = await timed('speech', () => speech.analyseFile(videoPath, ffmpegPath));
          span.set({ 'tremolo.tag.speech_ratio': Math.round(r.ratio * 1000) / 1000, 'tremolo.tag.speech_segments': r.segments.length });
          return r;
        },
        { 'tremolo.tag.device': speech.device },
      ),
    ]);
    if (signal?.aborted) throw stoppedError(signal);
    const tags = new Set<string>(keywordTags(frames.lines, tokenizer));
    tags.add(speechTag(speechReport, speech.settings));
    for (const l of frames.labels ?? []) tags.add(labelTag(l.label));
    tags.delete('');
    const usedCuda = ocr.device === 'cuda' && speech.device === 'cuda' && (classifier?.device ?? 'cuda') === 'cuda';
    return {
      tags: [...tags],
      ocr: dedupeLines(frames.lines),
      ...(frames.frame ? { frame: frames.frame } : {}),
      speech: { ratio: Math.round(speechReport.ratio * 1000) / 1000, segments: speechReport.segments },
      ...(frames.labels ? { classifier: frames.labels } : {}),
      device: usedCuda ? 'cuda' : 'cpu',
      modelSeconds,
    };
  } catch (err) {
    if (err instanceof TremoloError) throw err;
    throw new TremoloError('E_TAGGING_FAILED', undefined, { cause: err });
  }
}

export default defineTask<TagInput, TagResult>((input, ctx) => tag(input, ctx));

/** OCR of one keyframe file; a separate entry (`name: 'ocrFrame'`) so the bench times OCR alone. */
export async function ocrFrame(input: { keyframe: string; options: TaggerOptions & { ffmpegPath?: string } }): Promise<OcrLine[]> {
  const { options } = input;
  const ocr = await OcrEngine.load(workerSessions, { device: options.device, threads: options.threads });
  return ocr.read(await decodeImage(input.keyframe, options.ffmpegPath ?? defaultFfmpegPath));
}

/** Labels become tags in the same shape as keywords: normalised, words joined by dashes. */
function labelTag(label: string): string {
  return normaliseTag(label).replace(/ /g, '-');
}

function validate(input: TagInput): TagInput {
  const ok =
    typeof input === 'object' &&
    input !== null &&
    Array.isArray(input.keyframes) &&
    input.keyframes.every((k) => typeof k === 'string') &&
    typeof input.videoPath === 'string' &&
    typeof input.options === 'object' &&
    input.options !== null &&
    (input.options.device === 'cpu' || input.options.device === 'cuda') &&
    Number.isInteger(input.options.threads) &&
    input.options.threads >= 1;
  if (!ok) throw new TremoloError('E_VALIDATION', 'Tagging input is malformed');
  return input;
}
