/**
 * `connect-storm`: connections ramp to --users over --ramp; each watches a video (Zipf)
 * and lives an exponential --churn lifetime, then is closed and replaced by a fresh
 * connection, so the server sees a steady stream of handshakes, joins and leaves.
 */
import type { Shard, VirtualUser } from '../shard.ts';

export async function connectStorm(shard: Shard, vu: VirtualUser): Promise<void> {
  while (!shard.stopped) {
    const conn = await shard.connect(vu);
    if (!conn) {
      await shard.sleep(100 + vu.rng.int(400)); // refused: back off a little, try again
      continue;
    }
    await shard.watch(conn, shard.zipf.sample(vu.rng));
    await shard.sleep(vu.rng.exp(shard.options.churnMs));
    if (shard.stopped) break; // the shard closes what is open at the end
    shard.close(conn);
  }
}
