/**
 * Sign-ups and logins are limited by what they cost (issue 13, finding 6): real HTTP
 * requests from distinct loopback addresses (127.0.0.x) or through a trusted proxy's
 * X-Forwarded-For, against a real server. The assertions are the limiter's decisions
 * (status, code, Retry-After), never timings.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, requestFrom, startServer, type Answer } from '../helpers/server.ts';

const prefix = randomPrefix('auth-limits');
after(async () => {
  const redis = await connectRedis();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const PASSWORD = 'correct horse battery';
let seq = 0;
const handle = (prefix: string) => `${prefix}${process.pid}x${++seq}`;

const signUp = (server: Tremolo, from: string, name = handle('s'), headers: Record<string, string> = {}) =>
  requestFrom(from, `${server.url}/v1/users`, { body: { handle: name, password: PASSWORD }, headers });

const logIn = (server: Tremolo, from: string, name: string, password: string) =>
  requestFrom(from, `${server.url}/v1/sessions`, { body: { handle: name, password } });

function assertRefused(res: Answer, status: number, code: string): number {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal((res.body as { error: { code: string } }).error.code, code);
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(retryAfter >= 1, `Retry-After ${res.headers['retry-after']}`);
  return retryAfter;
}

describe('sign-ups are limited by their cost', () => {
  it('refuses sign-ups from one address beyond SIGNUP_RATE_PER_HOUR with 429; other addresses still sign up', async () => {
    const server = await startServer({ SIGNUP_RATE_PER_HOUR: '3' });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await signUp(server, '127.0.0.2')).status, 201);
      assertRefused(await signUp(server, '127.0.0.2'), 429, 'E_RATE_LIMITED');
      assert.equal((await signUp(server, '127.0.0.3')).status, 201);
    } finally {
      await server.close();
    }
  });

  it('hashes a few passwords at a time: beyond a small queue 503 E_BUSY with Retry-After, and logins are not crowded out', async () => {
    const server = await startServer({ PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '1' });
    try {
      const owner = handle('owner');
      assert.equal((await signUp(server, '127.0.0.2', owner)).status, 201);
      // a burst of sign-ups arrives together with one unrelated login
      const burst = Array.from({ length: 20 }, () => signUp(server, '127.0.0.3'));
      const login = logIn(server, '127.0.0.4', owner, PASSWORD);
      const answers = await Promise.all(burst);
      const busy = answers.filter((a) => a.status === 503);
      assert.ok(busy.length >= 1, `some of 20 concurrent sign-ups are refused (statuses ${answers.map((a) => a.status).join(',')})`);
      for (const a of busy) assertRefused(a, 503, 'E_BUSY');
      for (const a of answers) assert.ok(a.status === 201 || a.status === 503, `status ${a.status}`);
      assert.equal((await login).status, 200, 'the login waits ahead of the sign-ups, never behind or refused');
    } finally {
      await server.close();
    }
  });
});

for (const rateStore of ['memory', 'redis'] as const) describe(`failed logins (RATE_STORE=${rateStore})`, () => {
  // counters in this process, or in Redis where every process sees them
  const start = (env: Record<string, string> = {}) =>
    startServer({ ...(rateStore === 'redis' ? { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, RATE_STORE: 'redis' } : {}), ...env });

  it('delay the address that guesses, not the owner signing in from another one', async () => {
    const server = await start(); // defaults: 5 failures per (handle, address), 10 attempts/min per address
    try {
      const victim = handle('victim');
      assert.equal((await signUp(server, '127.0.0.2', victim)).status, 201);
      const guesses: number[] = [];
      for (let i = 0; i < 10; i++) guesses.push((await logIn(server, '127.0.0.3', victim, `wrong guess ${i}`)).status);
      assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      assertRefused(await logIn(server, '127.0.0.3', victim, PASSWORD), 429, 'E_RATE_LIMITED');
      assert.equal((await logIn(server, '127.0.0.4', victim, PASSWORD)).status, 200, 'the owner, elsewhere, is not locked out');
    } finally {
      await server.close();
    }
  });

  it('make each further attempt from the guessing address wait longer', async () => {
    const server = await start({ LOGIN_FAILS_PER_HANDLE_IP: '2', LOGIN_RATE_PER_MIN: '100000' });
    try {
      const victim = handle('victim');
      assert.equal((await signUp(server, '127.0.0.2', victim)).status, 201);
      const guess = () => logIn(server, '127.0.0.3', victim, 'wrong guess');
      assert.equal((await guess()).status, 401);
      assert.equal((await guess()).status, 401);
      const first = assertRefused(await guess(), 429, 'E_RATE_LIMITED');
      // attempts refused during the delay are not checked; the first one after it is
      let after: Answer | undefined;
      await eventually(async () => (after = await guess()).status !== 429, 'the first delay to end', 10_000);
      assert.equal(after?.status, 401);
      const second = assertRefused(await guess(), 429, 'E_RATE_LIMITED');
      assert.equal(first, 1);
      assert.equal(second, 2);
    } finally {
      await server.close();
    }
  });

  it('past the looser per-handle limit, delay strangers but not an address the owner used before', async () => {
    const server = await start({ LOGIN_FAILS_PER_HANDLE: '3', LOGIN_FAILS_PER_HANDLE_IP: '100' });
    try {
      const victim = handle('victim');
      assert.equal((await signUp(server, '127.0.0.2', victim)).status, 201);
      assert.equal((await logIn(server, '127.0.0.5', victim, PASSWORD)).status, 200); // the owner's usual address
      for (const from of ['127.0.0.6', '127.0.0.7', '127.0.0.8']) assert.equal((await logIn(server, from, victim, 'wrong guess')).status, 401);
      assertRefused(await logIn(server, '127.0.0.9', victim, 'wrong guess'), 429, 'E_RATE_LIMITED');
      assert.equal((await logIn(server, '127.0.0.5', victim, PASSWORD)).status, 200);
    } finally {
      await server.close();
    }
  });
});

describe('TRUST_PROXY', () => {
  const CLIENT_A = { 'x-forwarded-for': '203.0.113.7' };
  const CLIENT_B = { 'x-forwarded-for': '203.0.113.8' };

  it('keys per-address limits on the client a trusted proxy names', async () => {
    const server = await startServer({ TRUST_PROXY: 'loopback', SIGNUP_RATE_PER_HOUR: '1' });
    try {
      assert.equal((await signUp(server, '127.0.0.1', undefined, CLIENT_A)).status, 201);
      assertRefused(await signUp(server, '127.0.0.1', undefined, CLIENT_A), 429, 'E_RATE_LIMITED');
      assert.equal((await signUp(server, '127.0.0.1', undefined, CLIENT_B)).status, 201, 'another client behind the same proxy');
    } finally {
      await server.close();
    }
  });

  it('ignores X-Forwarded-For from peers it does not trust, so a client cannot pick its own address', async () => {
    const server = await startServer({ SIGNUP_RATE_PER_HOUR: '1' });
    try {
      assert.equal((await signUp(server, '127.0.0.1', undefined, CLIENT_A)).status, 201);
      assertRefused(await signUp(server, '127.0.0.1', undefined, CLIENT_B), 429, 'E_RATE_LIMITED');
    } finally {
      await server.close();
    }
  });
});
