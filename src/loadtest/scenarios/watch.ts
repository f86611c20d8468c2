/**
 * `watch`: viewers swipe through videos by Zipf popularity; each watch counts a view, and a
 * long enough dwell is reported as watch progress (`video:progress`) before swiping on.
 */
import { PROGRESS_MIN_DWELL_MS, type Shard, type VirtualUser } from '../shard.ts';

export async function watch(shard: Shard, vu: VirtualUser): Promise<void> {
  const conn = await shard.connect(vu);
  if (!conn) return;
  while (!shard.stopped) {
    const watching = await shard.watch(conn, shard.zipf.sample(vu.rng));
    const dwell = vu.rng.exp(shard.options.dwellMs);
    await shard.sleep(dwell);
    if (watching && dwell >= PROGRESS_MIN_DWELL_MS) await shard.progress(conn, dwell);
  }
}
