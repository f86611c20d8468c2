/**
 * Favorites on Redis: a video's favoriters set (its count) lives in the video's slot, a user's
 * list in the user's; an op is the video's half first (favorite-video-2.lua, which also
 * refuses an unknown video), then the user's (favorite-user-2.lua). Both halves are
 * idempotent, so a turn that fails in between converges when retried.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { Page, PageRequest } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import type { FavoriteOp, FavoriteOpResult, FavoriteStore } from '../store.ts';
import { exclusive, type RedisContext } from './context.ts';
import { io, isScriptFailure } from './scripts.ts';

export class RedisFavorites implements FavoriteStore {
  constructor(private readonly ctx: RedisContext) {}

  async apply(userId: string, ops: FavoriteOp[]): Promise<FavoriteOpResult[]> {
    const { keys, scripts } = this.ctx;
    // issued together, in order: ops on one video reach its slot in the order given
    const replies = await Promise.all(
      ops.map((op) => scripts.run('favorite-video', [keys.video(op.videoId).meta, keys.favoriters(op.videoId)], [op.type === 'favorite' ? 'f' : 'u', userId])),
    );
    const results = ops.map((op, i): FavoriteOpResult => {
      const r = replies[i];
      if (isScriptFailure(r)) return { ok: false, code: 'E_VIDEO_NOT_FOUND' };
      const [changed, favorites] = r as [number, number];
      return { ok: true, type: op.type, changed: changed === 1, favorites };
    });
    const args = ops.flatMap((op, i) => (results[i]!.ok ? [op.type === 'favorite' ? 'f' : 'u', op.videoId, op.at] : []));
    if (args.length) await scripts.run('favorite-user', [keys.userFavorites(userId), keys.userFavoriteMembers(userId)], args);
    return results;
  }

  async list(userId: string, page: PageRequest): Promise<Page<string>> {
    const { client, keys } = this.ctx;
    const before = decodeCursor(page.cursor);
    if (before !== undefined && !/^[0-9A-Z]{13}:[0-9A-Z]{13}$/.test(before)) throw new TremoloError('E_BAD_CURSOR');
    const members = await io(() => client.zrevrangebylex(keys.userFavorites(userId), exclusive(before, '+'), '-', 'LIMIT', 0, page.limit + 1));
    const p = pageOf(members, page.limit, (m) => m);
    return { ...p, items: p.items.map((m) => m.slice(m.indexOf(':') + 1)) };
  }

  async counts(videoIds: readonly string[]): Promise<number[]> {
    const { client, keys } = this.ctx;
    return io(() => Promise.all(videoIds.map((id) => client.scard(keys.favoriters(id)))));
  }

  async favoritedBy(userId: string, videoIds: readonly string[]): Promise<boolean[]> {
    const { client, keys } = this.ctx;
    const flags = await io(() => Promise.all(videoIds.map((id) => client.sismember(keys.favoriters(id), userId))));
    return flags.map((f) => f === 1);
  }

  async isPublic(userId: string): Promise<boolean> {
    const { client, keys } = this.ctx;
    return (await io(() => client.hget(keys.userSettings(userId), 'favoritesPublic'))) === '1';
  }

  async setPublic(userId: string, value: boolean): Promise<void> {
    const { keys, scripts } = this.ctx;
    await scripts.write(keys.userSettings(userId), (p) => p.hset(keys.userSettings(userId), 'favoritesPublic', value ? '1' : '0'));
  }
}
