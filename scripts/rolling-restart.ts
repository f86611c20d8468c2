/**
 * The longer rolling-restart run (docs/loadtest.md, "Rolling restarts"): a private Redis, three
 * tremolo processes on it, `tremolo loadtest --scenario mixed` against all three, and the
 * processes restarted one after another (SIGTERM, exit, start again on the same port, /readyz)
 * every --every seconds while the load runs. The load tester's final check decides the result:
 * no acknowledged write lost or applied twice, no gap at any watcher.
 *
 *   node --import tsx scripts/rolling-restart.ts --duration 240s --every 20s --port 41200 \
 *        -- --users 600 --accounts 150 --videos 60 --source-addresses 4
 *
 * Arguments after `--` go to `tremolo loadtest` as they are. Ports: Redis on --port, the
 * servers on --port+1..3, their metrics on --port+11..13. Exit status: the load tester's (0
 * when its check passed), or 1 when a process did not stop cleanly or come back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const BIN = new URL('../bin/tremolo.js', import.meta.url).pathname;

const split = process.argv.indexOf('--');
const own = split < 0 ? process.argv.slice(2) : process.argv.slice(2, split);
const passOn = split < 0 ? [] : process.argv.slice(split + 1);
const { values } = parseArgs({
  args: own,
  options: { duration: { type: 'string', default: '240s' }, every: { type: 'string', default: '20s' }, port: { type: 'string', default: '41200' } },
});
const seconds = (s: string) => Number(/^(\d+(?:\.\d+)?)s?$/.exec(s)?.[1] ?? NaN);
const durationS = seconds(values.duration);
const everyS = seconds(values.every);
const base = Number(values.port);
if (!(durationS > 0 && everyS > 0 && base > 0)) {
  console.error('usage: rolling-restart.ts [--duration 240s] [--every 20s] [--port 41200] [-- loadtest options]');
  process.exit(2);
}

const secrets = { JWT_SECRET: randomBytes(32).toString('base64url'), MEDIA_SECRET: randomBytes(32).toString('base64url') };
const serverEnv = (i: number): Record<string, string> => ({
  ...(process.env as Record<string, string>),
  ...secrets,
  STORAGE: 'redis',
  REDIS_URL: `redis://127.0.0.1:${base}`,
  REDIS_PREFIX: `rolling${base}:`,
  NODE_ID: String(i + 1),
  HOST: '127.0.0.1',
  PORT: String(base + 1 + i),
  METRICS_PORT: String(base + 11 + i),
  LOG_LEVEL: 'warn',
  // a load-test target (docs/loadtest.md, "Server settings for a load-test target")
  RATE_IP_PER_MIN: '10000000',
  RATE_USER_PER_MIN: '10000000',
  SOCKET_EVENTS_PER_SEC: '10000',
  USER_EVENTS_PER_SEC: '100000',
  USER_MAX_SOCKETS: '1000',
  SOCKET_MAX_PER_IP: '100000',
  SIGNUP_RATE_PER_HOUR: '100000',
});
const url = (i: number) => `http://127.0.0.1:${base + 1 + i}`;

const started = Date.now();
const log = (line: string) => console.error(`[rolling ${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`);

async function until(what: string, ms: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

/**
 * Starts process i and waits for /readyz. A process that exits while starting (on a saturated
 * machine a Redis command of its start-up can time out) is started again, as a supervisor
 * (Kubernetes, systemd) would; each such retry is logged and counted.
 */
let startRetries = 0;
async function startServer(i: number): Promise<ChildProcess> {
  for (let attempt = 1; ; attempt++) {
    const child = spawn(process.execPath, [BIN, 'serve'], { env: serverEnv(i), stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      await until(`process ${i + 1} to be ready`, 60_000, async () => {
        if (child.exitCode !== null) throw new Error(`process ${i + 1} exited with ${child.exitCode} while starting`);
        return (await fetch(`${url(i)}/readyz`).catch(() => undefined))?.ok === true;
      });
      return child;
    } catch (err) {
      child.kill('SIGKILL');
      await exited(child);
      if (attempt === 3) throw err;
      startRetries++;
      log(`${String(err)}; starting it again`);
    }
  }
}

const redis = spawn('redis-server', ['--port', String(base), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--dir', mkdtempSync(join(tmpdir(), 'rolling-redis-'))], {
  stdio: 'ignore',
});
const servers: ChildProcess[] = [];
let failed = false;
try {
  await new Promise((r) => setTimeout(r, 300)); // redis-server binds in a few ms; the servers retry anyway
  for (let i = 0; i < 3; i++) servers.push(await startServer(i)); // each is stopped at the end, whatever fails
  log('three processes ready');

  const load = spawn(
    process.execPath,
    [
      BIN,
      'loadtest',
      '--target',
      [0, 1, 2].map(url).join(','),
      '--metrics',
      [0, 1, 2].map((i) => `http://127.0.0.1:${base + 11 + i}/metrics`).join(','),
      '--scenario',
      'mixed',
      '--duration',
      `${durationS}s`,
      ...passOn,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const loadDone = exited(load);
  // its output goes on to ours; the first progress line says the load phase began (the
  // fixtures, sign-ups included, are made before it, and restarts wait for them)
  const loading = new Promise<void>((resolve) => {
    load.stdout?.on('data', (d: Buffer) => {
      process.stdout.write(d);
      if (d.includes('"type":"progress"')) resolve();
    });
  });
  if ((await Promise.race([loading.then(() => 'load'), loadDone.then(() => 'done')])) === 'done') throw new Error('the load tester ended before its load phase');
  log('load phase started');
  // restarts stop half a period before the end, so the last process is back and the last
  // deliveries land before the final check
  const stopRestartsAt = Date.now() + (durationS - everyS / 2) * 1000;
  const restarts: { process: number; exitCode: number | null; drainMs: number; readyMs: number }[] = [];
  for (let k = 0; ; k = (k + 1) % 3) {
    const timer = new Promise((r) => setTimeout(r, everyS * 1000));
    if ((await Promise.race([timer.then(() => 'tick'), loadDone.then(() => 'done')])) === 'done') break;
    if (Date.now() >= stopRestartsAt) break;
    const child = servers[k]!;
    const t0 = Date.now();
    child.kill('SIGTERM');
    const exitCode = await exited(child);
    const drainMs = Date.now() - t0;
    servers[k] = await startServer(k);
    const readyMs = Date.now() - t0 - drainMs;
    restarts.push({ process: k + 1, exitCode, drainMs, readyMs });
    log(`process ${k + 1}: SIGTERM -> exit ${exitCode} in ${drainMs} ms, ready again ${readyMs} ms later`);
    if (exitCode !== 0) failed = true;
  }
  const code = await loadDone;
  console.error(JSON.stringify({ type: 'restarts', restarts, startRetries }));
  log(`load tester exited with ${code}; ${restarts.length} restarts${failed ? ', one of them unclean' : ''}`);
  process.exitCode = failed ? 1 : (code ?? 1);
} catch (err) {
  log(String(err));
  process.exitCode = 1;
} finally {
  await Promise.all(
    servers.map((s) => {
      s.kill('SIGTERM');
      return exited(s);
    }),
  );
  redis.kill('SIGTERM');
  await exited(redis);
}
