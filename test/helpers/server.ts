/**
 * Starts a real tremolo (HTTP + Socket.IO on a free port) for a test, with settings
 * given as environment variables, exactly as a deployment would.
 */
import { loadConfig } from '../../src/config.ts';
import { startTremolo, type StartOptions, type Tremolo } from '../../src/main.ts';
import { HttpClient } from '../../src/client/http-client.ts';
import { LiveClient, type LiveClientOptions } from '../../src/client/live-client.ts';
import { TEST_SERVER_ENV } from './server-env.ts';

/** `env` overrides the test defaults; a variable given as undefined is unset. */
export async function startServer(env: Record<string, string | undefined> = {}, opts: StartOptions = {}): Promise<Tremolo> {
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    RATE_IP_PER_MIN: '100000',
    RATE_USER_PER_MIN: '100000',
    ...TEST_SERVER_ENV,
    ...env,
  });
  return startTremolo(config, { logger: false, ...opts });
}

let seq = 0;
/** Registers a fresh user and returns a signed-in REST client. */
export async function newUser(server: { url: string }, prefix = 'user'): Promise<{ http: HttpClient; id: string; handle: string; token: string }> {
  const http = new HttpClient(server.url);
  const handle = `${prefix}${process.pid}x${++seq}x${Math.floor(Math.random() * 1e6)}`;
  const s = await http.register(handle, 'correct horse battery');
  return { http, id: s.user.id, handle, token: s.token };
}

/** A connected live client; closed by the caller. */
export async function liveClient(server: { url: string }, opts: Partial<LiveClientOptions> = {}): Promise<LiveClient> {
  const client = new LiveClient({ url: server.url, ...opts });
  await client.connect();
  return client;
}

/** Waits until `predicate` holds, polling; fails with `what` after `ms`. */
export async function eventually(predicate: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
