/**
 * Favorites in memory: who keeps each video (its count) and each user's list, ordered by when
 * the video was saved (members `<at>:<videoId>`, `at` a TSID), as the Redis driver keeps them.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { Page, PageRequest } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { SortedIds } from '../sorted-ids.ts';
import type { FavoriteOp, FavoriteOpResult, FavoriteStore } from '../store.ts';
import type { MemoryTables } from './tables.ts';

export interface UserFavorites {
  /** `<at>:<videoId>`, so lexicographic order is the order of saving. */
  order: SortedIds;
  /** Video id -> its member in `order`. */
  members: Map<string, string>;
  public: boolean;
}

export interface FavoritesTables {
  /** Video id -> ids of the users who keep it. */
  byVideo: Map<string, Set<string>>;
  byUser: Map<string, UserFavorites>;
}

export class MemoryFavorites implements FavoriteStore {
  private readonly t: FavoritesTables;

  constructor(private readonly tables: MemoryTables) {
    this.t = tables.favorites;
  }

  async apply(userId: string, ops: FavoriteOp[]): Promise<FavoriteOpResult[]> {
    const mine = this.user(userId);
    return ops.map((op): FavoriteOpResult => {
      const keepers = this.t.byVideo.get(op.videoId);
      const member = mine.members.get(op.videoId);
      if (op.type === 'favorite') {
        if (!this.tables.videos.has(op.videoId)) return { ok: false, code: 'E_VIDEO_NOT_FOUND' };
        const set = keepers ?? new Set<string>();
        this.t.byVideo.set(op.videoId, set);
        const changed = !set.has(userId);
        set.add(userId);
        if (member === undefined) {
          const m = `${op.at}:${op.videoId}`;
          mine.order.add(m);
          mine.members.set(op.videoId, m);
        }
        return { ok: true, type: 'favorite', changed, favorites: set.size };
      }
      const changed = keepers?.delete(userId) ?? false;
      if (member !== undefined) {
        mine.order.delete(member);
        mine.members.delete(op.videoId);
      }
      return { ok: true, type: 'unfavorite', changed, favorites: keepers?.size ?? 0 };
    });
  }

  async list(userId: string, page: PageRequest): Promise<Page<string>> {
    const before = decodeCursor(page.cursor);
    if (before !== undefined && !/^[0-9A-Z]{13}:[0-9A-Z]{13}$/.test(before)) throw new TremoloError('E_BAD_CURSOR');
    const members = this.t.byUser.get(userId)?.order.descending(before, page.limit + 1) ?? [];
    const p = pageOf(members, page.limit, (m) => m);
    return { ...p, items: p.items.map((m) => m.slice(m.indexOf(':') + 1)) };
  }

  async counts(videoIds: readonly string[]): Promise<number[]> {
    return videoIds.map((id) => this.t.byVideo.get(id)?.size ?? 0);
  }

  async favoritedBy(userId: string, videoIds: readonly string[]): Promise<boolean[]> {
    return videoIds.map((id) => this.t.byVideo.get(id)?.has(userId) ?? false);
  }

  async isPublic(userId: string): Promise<boolean> {
    return this.t.byUser.get(userId)?.public ?? false;
  }

  async setPublic(userId: string, value: boolean): Promise<void> {
    this.user(userId).public = value;
  }

  private user(userId: string): UserFavorites {
    let mine = this.t.byUser.get(userId);
    if (!mine) this.t.byUser.set(userId, (mine = { order: new SortedIds(), members: new Map(), public: false }));
    return mine;
  }
}
