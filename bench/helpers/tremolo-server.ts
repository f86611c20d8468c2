/**
 * Child process: a real tremolo, configured from the environment exactly as
 * `tremolo serve` would be (PORT=0 picks a free port). Tells the parent its URL, then
 * answers `stats` (memory and CPU of this process, after GC on request) and
 * `profileStart` / `profileStop { path }` (a V8 CPU profile of just that stretch), `flushTraces`
 * (exports the spans still queued).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadConfig } from '../../src/config.ts';
import { startTremolo } from '../../src/main.ts';
import { serveParent } from './child.ts';

// explicit secrets (the bench may run on Redis, where they are required) and a free metrics port
const config = loadConfig({
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  JWT_SECRET: randomBytes(32).toString('base64url'),
  MEDIA_SECRET: randomBytes(32).toString('base64url'),
  METRICS_PORT: '0',
  ...process.env,
});
const tremolo = await startTremolo(config, { logger: false });
// a CPU profile of a chosen stretch (e.g. only the measured runs, not the setup)
let profiler: Session | undefined;
serveParent({
  profileStart: async () => {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    return {};
  },
  profileStop: async (args) => {
    if (!profiler) throw new Error('no profile started');
    const { profile } = await profiler.post('Profiler.stop');
    profiler.disconnect();
    profiler = undefined;
    writeFileSync(String(args.path), JSON.stringify(profile));
    return {};
  },
  sockets: () => ({ sockets: tremolo.gateway.connectedSockets }),
  // the spans still queued for export, sent now (their cost is paid before the next measurement)
  flushTraces: async () => {
    await tremolo.tracing.flush();
    return {};
  },
  close: async () => {
    await tremolo.close();
    return {};
  },
});
process.send?.({
  ready: true,
  url: tremolo.url,
  pid: process.pid,
  ...(tremolo.grpc ? { grpcPort: tremolo.grpc.port } : {}),
  ...(tremolo.metricsUrl ? { metricsUrl: tremolo.metricsUrl } : {}),
});
