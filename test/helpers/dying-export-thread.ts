/**
 * An export thread that dies at its first request, as the real one (telemetry/export-thread.ts)
 * would on a crash: ExportThread must fail what was in flight and start another thread for the
 * next export (tracing-exporters.test.ts).
 */
import { parentPort } from 'node:worker_threads';

parentPort?.once('message', () => process.exit(3));
