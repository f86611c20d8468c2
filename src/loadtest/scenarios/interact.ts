/**
 * `interact`: viewers watch a video (Zipf) and act on it at Poisson rates: likes (or
 * unlikes, when the last op liked) at --like-rate, comments at --comment-rate (a
 * --reply-share of them replies) and comment likes (or unlikes) at --comment-like-rate
 * per second, swiping to another video after an exponential --dwell.
 */
import type { Shard, VirtualUser } from '../shard.ts';

export async function interact(shard: Shard, vu: VirtualUser): Promise<void> {
  const conn = await shard.connect(vu);
  if (!conn) return;
  const { likeRate, commentRate, commentLikeRate, dwellMs } = shard.options;
  const rate = likeRate + commentRate + commentLikeRate;
  let video = shard.zipf.sample(vu.rng);
  await shard.watch(conn, video);
  let swipeAt = Date.now() + vu.rng.exp(dwellMs);
  while (!shard.stopped) {
    const gap = rate > 0 ? vu.rng.exp(1000 / rate) : Infinity;
    if (Date.now() + gap >= swipeAt) {
      await shard.sleep(swipeAt - Date.now());
      if (shard.stopped) break;
      video = shard.zipf.sample(vu.rng);
      await shard.watch(conn, video);
      swipeAt = Date.now() + vu.rng.exp(dwellMs);
      continue;
    }
    await shard.sleep(gap);
    if (shard.stopped) break;
    const pick = vu.rng.float() * rate;
    if (pick < likeRate) await shard.toggleLike(conn, video);
    else if (pick < likeRate + commentLikeRate) await shard.toggleCommentLike(conn, video);
    else await shard.comment(conn, video);
  }
}
