/**
 * Child process: a real tremolo, configured from the environment exactly as
 * `tremolo serve` would be (PORT=0 picks a free port). Tells the parent its URL, then
 * answers `stats` (memory and CPU of this process, after GC on request).
 */
import { randomBytes } from 'node:crypto';
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
serveParent({
  sockets: () => ({ sockets: tremolo.gateway.connectedSockets }),
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
