/**
 * An export thread that crashes at its first request, as the real one (telemetry/export-thread.ts)
 * would on a bug: ExportThread must fail what was in flight, with the crash's message, and start
 * another thread for the next export (tracing-exporters.test.ts).
 */
import { parentPort } from 'node:worker_threads';

parentPort?.once('message', () => {
  throw new Error('a crash in the export thread');
});
