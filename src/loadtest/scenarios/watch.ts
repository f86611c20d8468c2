/** `watch`: viewers swipe through videos by Zipf popularity; each watch counts a view. */
import type { Shard, VirtualUser } from '../shard.ts';

export async function watch(shard: Shard, vu: VirtualUser): Promise<void> {
  const conn = await shard.connect(vu);
  if (!conn) return;
  while (!shard.stopped) {
    await shard.watch(conn, shard.zipf.sample(vu.rng));
    await shard.sleep(vu.rng.exp(shard.options.dwellMs));
  }
}
