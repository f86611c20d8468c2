/**
 * Transcode throughput: 8 generated 10 s 720p clips through MediaPool (the full transcode
 * task: probe, one ffmpeg run, master playlist, rename), against a baseline measured in the
 * same run: the same ffprobe + ffmpeg commands spawned directly, two at a time (two
 * single-threaded processes side by side is the best arrangement on a 2-core box).
 *
 *   node --import tsx bench/transcode.ts [clips] [threads]
 */
import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeClip, tempDir } from '../test/helpers/ffmpeg-fixtures.ts';
import { ffmpegArgs, probeMedia, resolveBinaries } from '../src/workers/media/ffmpeg.ts';
import { MediaPool } from '../src/workers/pool.ts';
import { planTranscode, prepareOutputDirs } from '../src/workers/tasks/transcode.ts';

const CLIPS = Number(process.argv[2] ?? 8);
const THREADS = Number(process.argv[3] ?? 2);

function spawnFfmpeg(bin: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`))));
  });
}

/** Runs jobs with at most `lanes` at a time. */
async function lanes<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

async function main(): Promise<void> {
  const work = await tempDir('tremolo-bench-');
  const bins = resolveBinaries();
  try {
    // Distinct clips (different durations by a frame) so no run benefits from another's page cache more than the other.
    const sources: string[] = [];
    for (let i = 0; i < CLIPS; i++) {
      const d = join(work, `src${i}`);
      await mkdir(d);
      sources.push(await makeClip(d, { seconds: 10 }));
    }

    const baseline = async (): Promise<number> => {
      const t0 = performance.now();
      await lanes(sources.map((s, i) => ({ s, i })), THREADS, async ({ s, i }) => {
        const probe = await probeMedia(s, { ffprobePath: bins.ffprobePath });
        const out = join(work, `base${i}`);
        const { plan, layout } = planTranscode(s, probe, out);
        await prepareOutputDirs(out, layout);
        await spawnFfmpeg(bins.ffmpegPath, ffmpegArgs(plan), out);
      });
      return performance.now() - t0;
    };

    const pooled = async (): Promise<{ ms: number; utilization: number }> => {
      const pool = new MediaPool({ threads: THREADS, maxQueue: CLIPS });
      // Warm the threads (module loading under tsx) outside the timed region, as a server would be.
      await Promise.all(Array.from({ length: THREADS }, () => pool.run('probe', { file: sources[0]! })));
      const t0 = performance.now();
      await Promise.all(sources.map((s, i) => pool.run('transcode', { input: s, outDir: join(work, `pool${i}`) })));
      const ms = performance.now() - t0;
      const utilization = pool.utilization;
      await pool.close();
      return { ms, utilization };
    };

    // Alternate the order so neither side always runs on a warmer machine.
    const base1 = await baseline();
    const pool1 = await pooled();
    const pool2 = await pooled();
    const base2 = await baseline();
    const baseMs = Math.min(base1, base2);
    const poolMs = Math.min(pool1.ms, pool2.ms);
    const perMin = (ms: number): number => Math.round(((CLIPS * 60_000) / ms) * 100) / 100;
    const value = perMin(poolMs);
    const base = perMin(baseMs);
    const ratio = Math.round((value / base) * 1000) / 1000;
    console.log(`clips: ${CLIPS} x 10 s 1280x720, threads: ${THREADS}`);
    console.log(`baseline (child_process, ${THREADS} side by side): ${(baseMs / 1000).toFixed(2)} s (runs ${(base1 / 1000).toFixed(2)}, ${(base2 / 1000).toFixed(2)}) -> ${base} clips/min`);
    console.log(`MediaPool: ${(poolMs / 1000).toFixed(2)} s (runs ${(pool1.ms / 1000).toFixed(2)}, ${(pool2.ms / 1000).toFixed(2)}) -> ${value} clips/min, piscina utilization ${pool2.utilization.toFixed(2)}`);
    console.log(`pool efficiency (pool / baseline throughput): ${ratio}`);
    console.log(JSON.stringify({ bench: 'transcode', unit: 'clips/min', value, baseline: base, ratio }));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
