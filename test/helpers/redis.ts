/**
 * Redis for tests: REDIS_URL (default redis://127.0.0.1:6379) with a random key prefix
 * per test file, removed afterwards. A missing Redis fails the run (it is never
 * silently skipped); private servers for crash and cluster tests come from startRedis().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export function randomPrefix(label = 'test'): string {
  return `tremolo-${label}-${randomBytes(4).toString('hex')}:`;
}

/** Connects and pings; throws a clear error if Redis is not there. */
export async function connectRedis(url = REDIS_URL): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {}); // reported through connect() below
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis tests need a Redis server at ${url} (set REDIS_URL): ${(err as Error).message}`);
  }
  return redis;
}

/** Deletes every key under `prefix`. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Resolves once a redis-server on `port` answers PING (about 5 s at most). */
async function waitForRedis(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await connectRedis(`redis://127.0.0.1:${port}`);
      r.disconnect();
      return;
    } catch {
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

export interface PrivateRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>;
}

/**
 * A private redis-server on a free port, for tests that stop and restart it. With
 * `persist`, it keeps an append-only file in a temporary directory, so data survives
 * a stop/start as it would on a production server.
 */
export async function startRedis(opts: { persist?: boolean } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = opts.persist ? mkdtempSync(join(tmpdir(), 'tremolo-redis-')) : undefined;
  const persistence = dir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no'];
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--save', '', ...persistence, '--bind', '127.0.0.1'], {
      stdio: 'ignore',
    });
    await waitForRedis(port);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const c = child;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, stop, start };
}

export interface PrivateCluster {
  nodes: string[];
  stop(): Promise<void>;
}

/** A 3-master Redis Cluster of private redis-server processes (about 2 s to form). */
export async function startRedisCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const children = ports.map((port) =>
    spawn(
      'redis-server',
      ['--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--dir', dir],
      { stdio: 'ignore' },
    ),
  );
  for (const port of ports) await waitForRedis(port);
  const nodes = ports.map((p) => `127.0.0.1:${p}`);
  await new Promise<void>((resolve, reject) => {
    const cli = spawn('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    cli.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited with ${code}`))));
  });
  // wait until every node agrees the cluster is up
  for (const port of ports) {
    const r = await connectRedis(`redis://127.0.0.1:${port}`);
    for (let i = 0; !String(await r.call('CLUSTER', 'INFO')).includes('cluster_state:ok'); i++) {
      if (i > 200) throw new Error('cluster did not come up');
      await new Promise((res) => setTimeout(res, 50));
    }
    r.disconnect();
  }
  return {
    nodes,
    stop: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}
