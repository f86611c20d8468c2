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
  // a directory of its own even without persistence: a replica's initial sync writes an RDB there
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-redis-'));
  const persistence = opts.persist ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir] : ['--appendonly', 'no', '--dir', dir];
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

/**
 * A private master and one replica of it (for REDIS_WAIT_REPLICAS): resolves once the
 * replica has caught up (master_link_status:up), so a WAIT 1 can be answered.
 */
export async function startRedisPair(): Promise<{ master: PrivateRedis; replica: PrivateRedis; stop(): Promise<void> }> {
  const master = await startRedis();
  const replica = await startRedis();
  const r = await connectRedis(replica.url);
  try {
    await r.call('REPLICAOF', '127.0.0.1', String(master.port));
    for (let i = 0; !(await r.info('replication')).includes('master_link_status:up'); i++) {
      if (i > 200) throw new Error('the replica did not connect to its master');
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    r.disconnect();
  }
  return { master, replica, stop: async () => void (await Promise.all([master.stop(), replica.stop()])) };
}

export interface ClusterNode {
  /** `127.0.0.1:port` */
  address: string;
  port: number;
}

export interface PrivateCluster {
  /** Every node's address (masters first, as `redis-cli --cluster create` pairs them). */
  nodes: string[];
  /** The nodes that are masters now (asks the cluster). */
  masters(): Promise<ClusterNode[]>;
  /** The master that serves `slot` now, as a running node sees it (`host:port`). */
  masterOf(slot: number): Promise<string>;
  /** SIGKILLs one node (a crash: nothing flushed, no goodbye to its peers). */
  kill(address: string): Promise<void>;
  /** Starts a killed node again with its cluster config: it rejoins (a former master as a replica). */
  restart(address: string): Promise<void>;
  /** Resolves once every running node reports cluster_state:ok. */
  healthy(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private Redis Cluster of 3 masters (about 2 s to form); with `replicas: 1`, each master
 * gets a replica (6 nodes) and `nodeTimeoutMs` bounds how long a dead master goes unnoticed
 * before its replica is promoted.
 */
export async function startRedisCluster(opts: { replicas?: 0 | 1; nodeTimeoutMs?: number } = {}): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tremolo-cluster-'));
  const count = opts.replicas ? 6 : 3;
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const children = new Map<number, ChildProcess>();
  const spawnNode = (port: number) => {
    const args = ['--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--dir', dir];
    if (opts.nodeTimeoutMs) args.push('--cluster-node-timeout', String(opts.nodeTimeoutMs));
    children.set(port, spawn('redis-server', args, { stdio: 'ignore' }));
  };
  for (const port of ports) spawnNode(port);
  for (const port of ports) await waitForRedis(port);
  const nodes = ports.map((p) => `127.0.0.1:${p}`);
  await new Promise<void>((resolve, reject) => {
    const cli = spawn('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', String(opts.replicas ?? 0), '--cluster-yes'], { stdio: 'ignore' });
    cli.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited with ${code}`))));
  });
  const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
  const stopChild = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (!alive(c)) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  const portOf = (address: string) => Number(address.split(':')[1]);
  // wait until every node agrees the cluster is up (and, with replicas, each has its replica)
  const healthy = async () => {
    for (const [port, child] of children) {
      if (!alive(child)) continue;
      const r = await connectRedis(`redis://127.0.0.1:${port}`);
      try {
        for (let i = 0; ; i++) {
          const info = String(await r.call('CLUSTER', 'INFO'));
          // a master's replica is usable once its initial sync is done (state=online)
          const replication = opts.replicas ? await r.info('replication') : '';
          const synced = !replication.includes('role:master') || /^slave\d+:.*state=online/m.test(replication);
          if (info.includes('cluster_state:ok') && synced) break;
          if (i > 400) throw new Error(`cluster node ${port} is not healthy`);
          await new Promise((res) => setTimeout(res, 50));
        }
      } finally {
        r.disconnect();
      }
    }
  };
  const askAlive = async <T>(ask: (r: Redis) => Promise<T>): Promise<T> => {
    for (const [port, child] of children) {
      if (!alive(child)) continue;
      const r = await connectRedis(`redis://127.0.0.1:${port}`);
      try {
        return await ask(r);
      } finally {
        r.disconnect();
      }
    }
    throw new Error('no cluster node is running');
  };
  await healthy();
  return {
    nodes,
    healthy,
    masterOf: async (slot) => {
      const ranges = (await askAlive((r) => r.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no master serves slot ${slot}`);
      return `${range[2][0]}:${range[2][1]}`;
    },
    masters: async () => {
      for (const [port, child] of children) {
        if (!alive(child)) continue;
        const r = await connectRedis(`redis://127.0.0.1:${port}`);
        try {
          const lines = String(await r.call('CLUSTER', 'NODES')).split('\n');
          return lines
            .filter((l) => {
              const flags = l.split(' ')[2]?.split(',') ?? [];
              return flags.includes('master') && !flags.includes('fail') && !flags.includes('fail?');
            })
            .map((l) => l.split(' ')[1]!.split('@')[0]!)
            .map((address) => ({ address, port: portOf(address) }));
        } finally {
          r.disconnect();
        }
      }
      throw new Error('no cluster node is running');
    },
    kill: async (address) => {
      const child = children.get(portOf(address));
      if (child) await stopChild(child);
    },
    restart: async (address) => {
      const port = portOf(address);
      spawnNode(port);
      await waitForRedis(port);
    },
    stop: async () => {
      await Promise.all([...children.values()].map(stopChild));
    },
  };
}
