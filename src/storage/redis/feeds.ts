/** Feeds on Redis: one capped inbox per user, the outbox is the user's videos, one hot ranking. */
import { requireOffset } from '../cursor.ts';
import type { FeedEntry, FeedStore, HotPosition } from '../store.ts';
import { inboxEntry, inboxMember } from '../store.ts';
import { asArray, exclusive, type RedisContext } from './context.ts';
import { io } from './scripts.ts';

/** The FeedStore of the Redis driver. */
export class RedisFeeds implements FeedStore {
  constructor(private readonly ctx: RedisContext) {}

  async pushToInboxes(userIds: string[], entry: FeedEntry, cap: number): Promise<void> {
    const { keys, scripts } = this.ctx;
    const member = inboxMember(entry);
    await scripts.runMany(
      'feed-push',
      userIds.map((id) => ({ keys: [keys.user(id), keys.inbox(id)], args: [member, cap] })),
    );
  }

  async inbox(userId: string, before: string | undefined, limit: number): Promise<FeedEntry[]> {
    const { client, keys } = this.ctx;
    if (!(limit > 0)) return [];
    // members sort by video id (see inboxMember), so `(${before}` excludes `before` itself
    const members = await io(() => client.zrevrangebylex(keys.inbox(userId), exclusive(before, '+'), '-', 'LIMIT', 0, limit));
    return members.map(inboxEntry);
  }

  async outbox(authorId: string, before: string | undefined, limit: number): Promise<string[]> {
    const { client, keys } = this.ctx;
    if (!(limit > 0)) return [];
    return io(() => client.zrevrangebylex(keys.userVideos(authorId), exclusive(before, '+'), '-', 'LIMIT', 0, limit));
  }

  async setHotScore(videoId: string, score: number | null): Promise<void> {
    const { client, keys } = this.ctx;
    if (score === null) {
      await io(() => client.zrem(keys.hot(), videoId));
      return;
    }
    const value = score === Infinity ? '+inf' : score === -Infinity ? '-inf' : score;
    await io(() => client.zadd(keys.hot(), value, videoId));
  }

  async hot(offset: number, limit: number): Promise<string[]> {
    const { client, keys } = this.ctx;
    const start = requireOffset(offset);
    if (!(limit > 0)) return [];
    // both bounds stay integers Redis can read (a number past 2^53 would be sent as 1e+21)
    const stop = Math.min(start + Math.ceil(limit) - 1, Number.MAX_SAFE_INTEGER);
    // ZREVRANGE breaks score ties by member, descending: the memory driver's order
    return io(() => client.zrevrange(keys.hot(), start, stop));
  }

  async hotAfter(after: HotPosition | undefined, limit: number): Promise<HotPosition[]> {
    const { client, keys, scripts } = this.ctx;
    if (!(limit > 0)) return [];
    const n = Math.min(Math.ceil(limit), 10_000);
    const flat = after
      ? asArray(await scripts.run('hot-after', [keys.hot()], [redisScore(after.score), after.id, n]))
      : await io(() => client.zrevrange(keys.hot(), 0, n - 1, 'WITHSCORES'));
    const out: HotPosition[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: String(flat[i]), score: Number(flat[i + 1]) });
    return out;
  }
}

/** A score as Redis reads it: exact for finite numbers (String() round-trips a double), `+inf`/`-inf` otherwise. */
function redisScore(score: number): string {
  return score === Infinity ? '+inf' : score === -Infinity ? '-inf' : String(score);
}
