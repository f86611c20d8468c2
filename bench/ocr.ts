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

export async function runOcrBench(opts: { frames?: number; threads?: number } = {}): Promise<OcrBenchResult> {
  const frames = opts.frames ?? 24;
  const options: TaggerOptions = { device: 'cpu', threads: opts.threads ?? 2 };
  const scratch = await MediaScratch.create();
  const round = (x: number): number => Math.round(x * 100) / 100;
  try {
    const font = requireFont('cjk');
    const files: string[] = [];
    for (let i = 0; i < frames; i++) {
      const lines = CAPTIONS[i % CAPTIONS.length] ?? [];
      files.push(await scratch.textFrame({ lines, font, width: 720, height: 405, fontSize: 40 + (i % 3) * 6 }));
    }

    // Pipeline: one worker, so the comparison with the single-threaded baseline is like for like.
    const pool = new Piscina({
      filename: new URL('../src/workers/tasks/tag.ts', import.meta.url).href,
      minThreads: 1,
      maxThreads: 1,
      // Lets the next frame's ffmpeg decode overlap this frame's inference.
      concurrentTasksPerWorker: 2,
    });
    let pipelineFps: number;
    try {
      await pool.run({ keyframe: files[0], options }, { name: 'ocrFrame' }); // loads the sessions
      const t0 = performance.now();
      await Promise.all(files.map((keyframe) => pool.run({ keyframe, options }, { name: 'ocrFrame' })));
      const ms = performance.now() - t0;
      pipelineFps = (frames * 1000) / ms;
      console.log(`pipeline (pool, ${options.threads} intra-op threads): ${round(pipelineFps)} frames/s, ${round(ms / frames)} ms/frame`);
    } finally {
      await pool.destroy();
    }

    // Baseline: the same tensors the pipeline builds, prepared up front, then only the model runs.
    const sessions = new SessionCache();
    try {
      const engine = await OcrEngine.load(sessions, options);
      const inputs = [];
      for (const file of files) {
        const img = await decodeImage(file);
        const det = engine.prepareDetection(img);
        inputs.push({ det: det.tensor, rec: engine.prepareRecognition(img, await engine.detect(img)).map((b) => b.tensor) });
      }
      const detName = engine.detector.inputNames[0] ?? 'x';
      const recName = engine.recogniser.inputNames[0] ?? 'x';
      const runOne = async (input: (typeof inputs)[number]): Promise<void> => {
        await engine.detector.run({ [detName]: input.det });
        for (const rec of input.rec) await engine.recogniser.run({ [recName]: rec });
      };
      if (inputs[0]) await runOne(inputs[0]); // warm-up, as the pipeline had
      const t0 = performance.now();
      for (const input of inputs) await runOne(input);
      const ms = performance.now() - t0;
      const baselineFps = (frames * 1000) / ms;
      const lines = inputs.reduce((n, i) => n + i.rec.reduce((m, t) => m + (t.dims[0] ?? 0), 0), 0);
      console.log(`baseline (bare det + rec runs): ${round(baselineFps)} frames/s, ${round(ms / frames)} ms/frame (${lines} text lines)`);
      return { bench: 'ocr', unit: 'frames/s', value: round(pipelineFps), baseline: round(baselineFps), ratio: round(pipelineFps / baselineFps) };
    } finally {
      await sessions.close();
    }
  } finally {
    await scratch.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runOcrBench();
  console.log(JSON.stringify(result));
}
