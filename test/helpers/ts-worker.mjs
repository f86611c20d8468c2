// Bootstraps a TypeScript worker thread: registers tsx, then imports the entry given
// in workerData.entry (a file URL). Node 20 workers do not inherit --import hooks.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
