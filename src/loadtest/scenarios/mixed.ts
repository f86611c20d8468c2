/**
 * `mixed`: a blend of the others. 20% of users read feeds over REST (as `feed`); the
 * rest swipe through videos by Zipf popularity and, on each video, like it with
 * probability 0.15 and comment with probability 0.03, at a random moment of the dwell.
 */
import type { Shard, VirtualUser } from '../shard.ts';
import { feedReader } from './feed.ts';

export const MIXED = { readers: 0.2, like: 0.15, comment: 0.03 };

export async function mixed(shard: Shard, vu: VirtualUser): Promise<void> {
  if (vu.rng.chance(MIXED.readers)) return feedReader(shard, vu);
  const conn = await shard.connect(vu);
  if (!conn) return;
  while (!shard.stopped) {
    const video = shard.zipf.sample(vu.rng);
    await shard.watch(conn, video);
    const dwell = vu.rng.exp(shard.options.dwellMs);
    const actAt = vu.rng.float() * dwell;
    const like = vu.rng.chance(MIXED.like);
    const comment = vu.rng.chance(MIXED.comment);
    await shard.sleep(actAt);
    if (shard.stopped) break;
    if (like) await shard.toggleLike(conn, video);
    if (comment) await shard.comment(conn, video);
    await shard.sleep(dwell - actAt);
  }
}
