/**
 * Several tremolo nodes (HTTP, Socket.IO, engine) in one process over shared storage, for
 * the multi-node invariants: on one MemoryStore with the in-memory bus (fast), or on one real
 * Redis with the real Redis adapter and invalidation channel, as separate processes would be.
 */
import { loadConfig } from '../../src/config.ts';
import type { Tremolo } from '../../src/main.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { MemoryBus } from './memory-bus.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from './redis.ts';
import { TEST_SERVER_ENV } from './server-env.ts';
import { startServer } from './server.ts';

export interface TestCluster {
  nodes: Tremolo[];
  /** Closes every node, then what they shared. */
  stop(): Promise<void>;
}

/** `n` nodes sharing one MemoryStore, linked by one in-memory bus. */
export async function memoryCluster(n: number, env: Record<string, string> = {}): Promise<TestCluster> {
  const config = loadConfig({ ...TEST_SERVER_ENV, ...env });
  const store = new MemoryStore({ eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS });
  const bus = new MemoryBus();
  const nodes: Tremolo[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startServer({ ...env, NODE_ID: String(i) }, { node: { store, ...bus.node() } }));
  return {
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((node) => node.close()));
      bus.close();
      await store.close();
    },
  };
}

/** `n` nodes on the Redis at REDIS_URL under a fresh key prefix, removed afterwards. */
export async function redisCluster(n: number, env: Record<string, string> = {}): Promise<TestCluster> {
  const prefix = randomPrefix('cluster');
  const admin = await connectRedis();
  const nodes: Tremolo[] = [];
  for (let i = 1; i <= n; i++) nodes.push(await startServer({ ...env, STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, NODE_ID: String(i) }));
  return {
    nodes,
    stop: async () => {
      await Promise.all(nodes.map((node) => node.close()));
      await dropPrefix(admin, prefix);
      admin.disconnect();
    },
  };
}
