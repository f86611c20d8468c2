/**
 * `feed`: REST readers at --http-rate requests per second each: half page through
 * their following feed, a quarter read the hot feed, a quarter open a video (Zipf)
 * and, one time in four, its comments.
 */
import type { Page } from '../../protocol/model.ts';
import type { Shard, VirtualUser } from '../shard.ts';

export async function feedReader(shard: Shard, vu: VirtualUser): Promise<void> {
  const mean = 1000 / Math.max(shard.options.httpRate, 1e-6);
  let cursor: string | undefined;
  while (!shard.stopped) {
    await shard.sleep(vu.rng.exp(mean));
    if (shard.stopped) break;
    const pick = vu.rng.float();
    if (pick < 0.5) {
      const page: Page<unknown> | undefined = await shard.http(vu, (http) => http.feed({ limit: 10, ...(cursor ? { cursor } : {}) }));
      cursor = page?.nextCursor && vu.rng.chance(0.5) ? page.nextCursor : undefined;
    } else if (pick < 0.75) {
      await shard.http(vu, (http) => http.hot({ limit: 10 }));
    } else {
      const videoId = shard.videoId(shard.zipf.sample(vu.rng));
      await shard.http(vu, (http) => http.getVideo(videoId));
      if (vu.rng.chance(0.25)) await shard.http(vu, (http) => http.comments(videoId, { limit: 20 }));
    }
  }
}
