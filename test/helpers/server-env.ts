/**
 * What every test server (in-process or spawned) gets unless a test says otherwise:
 * explicit secrets, random per test process but shared by all its servers (on Redis they
 * must agree, as in production), and a metrics listener on a free port (many servers run
 * side by side on one machine).
 */
import { randomBytes } from 'node:crypto';

export const TEST_SERVER_ENV: Readonly<Record<string, string>> = {
  JWT_SECRET: randomBytes(32).toString('base64url'),
  MEDIA_SECRET: randomBytes(32).toString('base64url'),
  METRICS_PORT: '0',
};
