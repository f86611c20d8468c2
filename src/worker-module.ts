/**
 * Where a worker thread's module is, and how to start it, from the module that starts it.
 *
 * Under tsx (`npm start`, the tests) the sources are `.ts`; after `tsc` they are `.js`. Deriving
 * the extension from the caller's own URL keeps the two in step. Compiled `.js` workers need
 * nothing more.
 */
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The URL of `path` (relative, without extension) beside `callerUrl` (its `import.meta.url`). */
export function workerModuleUrl(path: string, callerUrl: string): URL {
  const ext = extname(fileURLToPath(callerUrl)) || '.js';
  return new URL(`${path}${ext}`, callerUrl);
}

/**
 * The `execArgv` a piscina worker started by `callerUrl` needs, if any. Worker threads inherit
 * `node --import tsx`, but not tsx registered through its API, as `bin/tremolo.js` does in a
 * checkout without a build: then `.ts` tasks would not load.
 */
export function workerExecArgv(callerUrl: string): { execArgv?: string[] } {
  const fromSources = extname(fileURLToPath(callerUrl)) === '.ts';
  if (!fromSources || process.execArgv.some((a) => a.includes('tsx'))) return {};
  return { execArgv: [...process.execArgv, '--import', 'tsx'] };
}

/**
 * Starts a worker thread on the module `path` beside `callerUrl`. A `.ts` module is loaded through
 * tsx's require hook, registered in the thread first: tsx's module hooks do not reach a worker's
 * entry (Node 20 refuses a `.ts` entry, and an `import()` of one, however the worker is started),
 * while its require hook does, which is also how piscina's workers load the `.ts` tasks.
 */
export function startWorker(path: string, callerUrl: string, options: WorkerOptions = {}): Worker {
  const url = workerModuleUrl(path, callerUrl);
  if (extname(url.pathname) !== '.ts') return new Worker(url, options);
  const tsx = createRequire(callerUrl).resolve('tsx/cjs/api');
  return new Worker(`require(${JSON.stringify(tsx)}).register();\nrequire(${JSON.stringify(fileURLToPath(url))});`, { ...options, eval: true });
}
