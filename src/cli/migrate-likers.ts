/**
 * `tremolo migrate-likers`: the upgrade step of the bucketed likers layout (issue 21,
 * docs/storage.md). Moves every video's likers written by an older version into the compact
 * buckets; servers may keep running (they read and write both layouts), and running it
 * again finds nothing to do.
 */
import type { Config } from '../config.ts';
import { RedisConnection } from '../storage/redis/connection.ts';
import { RedisStore } from '../storage/redis/redis-store.ts';

export async function runMigrateLikers(config: Config): Promise<number> {
  if (config.storage !== 'redis') {
    console.error('tremolo migrate-likers needs STORAGE=redis: the memory store has nothing to migrate');
    return 2;
  }
  const connection = await RedisConnection.open({
    url: config.redisUrl,
    ...(config.redisCluster ? { clusterNodes: config.redisCluster.split(',') } : {}),
    prefix: config.redisPrefix,
    timeoutMs: config.storageTimeoutMs,
  });
  try {
    const store = RedisStore.on(connection, { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS });
    const { videos, likers } = await store.migrateLikers();
    console.log(`moved ${likers} likers of ${videos} videos into buckets`);
    return 0;
  } finally {
    await connection.close();
  }
}
