/**
 * OCR benchmark: generated keyframes through the whole OCR pipeline in a piscina pool (ffmpeg
 * decode, detection pre-processing, DB post-processing, crops, recognition, CTC), against a
 * baseline measured in the same run: bare InferenceSession.run of det + rec on the same
 * pre-processed tensors. The ratio is the share of model throughput the pipeline keeps.
 *
 *   node --import tsx bench/ocr.ts        (or: npm run bench -- ocr)
 *
 * Ends with one JSON line: {"bench":"ocr","unit":"frames/s","value":N,"baseline":N,"ratio":N}.
 */
import { pathToFileURL } from 'node:url';
import type { Tensor } from 'onnxruntime-node';
import { Piscina } from 'piscina';
import { MediaScratch, requireFont } from '../test/helpers/media-fixtures.ts';
import { decodeImage } from '../src/workers/tasks/tag/media.ts';
import { OcrEngine } from '../src/workers/tasks/tag/ocr.ts';
import { SessionCache } from '../src/workers/tasks/tag/sessions.ts';
import type { TaggerOptions } from '../src/workers/tasks/tag/types.ts';

export interface OcrBenchResult {
  bench: 'ocr';
  unit: 'frames/s';
  value: number;
  baseline: number;
  ratio: number;
}

const CAPTIONS = [
  ['HELLO 抖音 2026', '短视频 Live Show'],
  ['#Dance 挑战 赛', 'Follow for more'],
  ['关注 点赞 评论', 'SUMMER SALE 50'],
  ['今天 天气 很好'],
];

export async function runOcrBench(opts: { frames?: number; rounds?: number; threads?: number } = {}): Promise<OcrBenchResult> {
  const frames = opts.frames ?? 16;
  const rounds = opts.rounds ?? 3;
  const options: TaggerOptions = { device: 'cpu', threads: opts.threads ?? 2 };
  const scratch = await MediaScratch.create();
  const sessions = new SessionCache();
  // One worker, so the comparison with the single-threaded baseline is like for like.
  const pool = new Piscina({
    filename: new URL('../src/workers/tasks/tag.ts', import.meta.url).href,
    minThreads: 1,
    maxThreads: 1,
    // Lets the next frame's ffmpeg decode overlap this frame's inference.
    concurrentTasksPerWorker: 2,
  });
  const round = (x: number): number => Math.round(x * 100) / 100;
  try {
    const font = requireFont('cjk');
    const files: string[] = [];
    for (let i = 0; i < frames; i++) {
      const lines = CAPTIONS[i % CAPTIONS.length] ?? [];
      files.push(await scratch.textFrame({ lines, font, width: 720, height: 405, fontSize: 40 + (i % 3) * 6 }));
    }

    // Baseline inputs: the very tensors the pipeline builds, prepared up front.
    const engine = await OcrEngine.load(sessions, options);
    const inputs: { det: Tensor; rec: Tensor[] }[] = [];
    for (const file of files) {
      const img = await decodeImage(file);
      const det = engine.prepareDetection(img);
      inputs.push({ det: det.tensor, rec: engine.prepareRecognition(img, await engine.detect(img)).map((b) => b.tensor) });
    }
    const detName = engine.detector.inputNames[0] ?? 'x';
    const recName = engine.recogniser.inputNames[0] ?? 'x';
    const bare = async (): Promise<void> => {
      for (const input of inputs) {
        await engine.detector.run({ [detName]: input.det });
        for (const rec of input.rec) await engine.recogniser.run({ [recName]: rec });
      }
    };
    const pipeline = async (): Promise<void> => {
      await Promise.all(files.map((keyframe) => pool.run({ keyframe, options }, { name: 'ocrFrame' })));
    };
    await pool.run({ keyframe: files[0], options }, { name: 'ocrFrame' }); // loads the worker's sessions
    await bare(); // warm-up

    // Rounds alternate so background load hits both sides alike; the best round of each counts.
    let pipelineMs = Infinity;
    let baselineMs = Infinity;
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      await pipeline();
      pipelineMs = Math.min(pipelineMs, performance.now() - t0);
      t0 = performance.now();
      await bare();
      baselineMs = Math.min(baselineMs, performance.now() - t0);
    }
    const lines = inputs.reduce((n, i) => n + i.rec.reduce((m, t) => m + (t.dims[0] ?? 0), 0), 0);
    const pipelineFps = (frames * 1000) / pipelineMs;
    const baselineFps = (frames * 1000) / baselineMs;
    console.log(`${frames} frames of 720x405 with ${lines} text lines, ${options.threads} intra-op threads, best of ${rounds} rounds`);
    console.log(`pipeline (piscina pool, decode to tags): ${round(pipelineFps)} frames/s, ${round(pipelineMs / frames)} ms/frame`);
    console.log(`baseline (bare det + rec InferenceSession.run): ${round(baselineFps)} frames/s, ${round(baselineMs / frames)} ms/frame`);
    return { bench: 'ocr', unit: 'frames/s', value: round(pipelineFps), baseline: round(baselineFps), ratio: round(pipelineFps / baselineFps) };
  } finally {
    await pool.destroy();
    await sessions.close();
    await scratch.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runOcrBench();
  console.log(JSON.stringify(result));
}
