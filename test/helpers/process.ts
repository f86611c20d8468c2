/**
 * Runs tremolo as a separate OS process (`bin/tremolo.js serve`), as a deployment would,
 * for tests of several processes on one Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './redis.ts';
import { TEST_SERVER_ENV } from './server-env.ts';

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** What the process wrote so far (its JSON log lines on stdout, then stderr). */
  output(): string;
  stop(): Promise<number | null>;
}

const BIN = new URL('../../bin/tremolo.js', import.meta.url).pathname;

/**
 * `env` overrides the defaults below; a variable given as undefined is removed. A given `PORT`
 * is kept (a restarted process comes back where its clients look for it), else a free one is used.
 */
export async function spawnServer(env: Record<string, string | undefined>): Promise<ServerProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: withoutUndefined({
      ...process.env,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      RATE_IP_PER_MIN: '1000000',
      RATE_USER_PER_MIN: '1000000',
      SIGNUP_RATE_PER_HOUR: '1000000',
      PASSWORD_HASH_QUEUE: '10000',
      SOCKET_MAX_PER_IP: '1000000',
      ...TEST_SERVER_ENV,
      ...env,
      PORT: String(port),
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000; // three servers starting at once on a loaded 2-core machine
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    output: () => stdout + stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

function withoutUndefined(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
