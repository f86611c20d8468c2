/**
 * Starts a real tremolo (HTTP + Socket.IO on a free port) for a test, with settings
 * given as environment variables, exactly as a deployment would.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { loadConfig } from '../../src/config.ts';
import { startTremolo, type StartOptions, type Tremolo } from '../../src/main.ts';
import { HttpClient } from '../../src/client/http-client.ts';
import { LiveClient, type LiveClientOptions } from '../../src/client/live-client.ts';
import { TEST_SERVER_ENV } from './server-env.ts';

/**
 * Tests make many accounts and sockets from one address: the per-IP limits are raised here,
 * and the tests of those limits set them back.
 */
const TEST_LIMITS = {
  RATE_IP_PER_MIN: '100000',
  RATE_USER_PER_MIN: '100000',
  SIGNUP_RATE_PER_HOUR: '100000',
  PASSWORD_HASH_QUEUE: '10000',
  SOCKET_MAX_PER_IP: '100000',
};

/** `env` overrides the test defaults; a variable given as undefined is unset. */
export async function startServer(env: Record<string, string | undefined> = {}, opts: StartOptions = {}): Promise<Tremolo> {
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    ...TEST_LIMITS,
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

/** Waits until `predicate` holds, polling (see eventually.ts). */
export { eventually } from './eventually.ts';

export interface Answer<T = unknown> {
  status: number;
  headers: IncomingHttpHeaders;
  body: T;
}

/**
 * An HTTP request with a JSON body sent from a chosen local address: all of 127/8 is
 * loopback on Linux, so 127.0.0.2, 127.0.0.3, ... are distinct clients to the server.
 */
export function requestFrom<T = { error?: { code: string } }>(
  localAddress: string,
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: init.method ?? (payload === undefined ? 'GET' : 'POST'),
        localAddress,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
