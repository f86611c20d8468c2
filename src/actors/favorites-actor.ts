/**
 * FavoritesActor: one user's favorites. A turn applies its batch of favorite/unfavorite ops
 * in one `favorites.apply` call (the user's list is the aggregate; each video's count rides
 * along), then tells the owner of each newly favorited video.
 */
import type { TsidGenerator } from '../domain/ids.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Store } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import { actorKind, type ActorBehavior } from './runtime.ts';

export type FavoriteMsg =
  /** `ownerId`: whom a new favorite notifies (the engine read the video first). */
  | { type: 'favorite'; videoId: string; ownerId: string }
  | { type: 'unfavorite'; videoId: string };

export interface FavoriteReply {
  /** False when the favorite (or its removal) was already in place. */
  changed: boolean;
  videoId: string;
  /** The video's favorite count after the write. */
  favorites: number;
}

export interface FavoriteReplies {
  favorite: FavoriteReply;
  unfavorite: FavoriteReply;
}

export const FAVORITES_ACTOR = actorKind<FavoriteMsg, FavoriteReplies>('favorites');

export interface FavoritesActorDeps {
  store: Store;
  sink: EventSink;
  ids: TsidGenerator;
}

export function favoritesActor(deps: FavoritesActorDeps): ActorBehavior<{ id: string }, FavoriteMsg, FavoriteReplies> {
  return {
    // nothing to load: the list lives in storage, and the engine checked the user
    activate: async (id) => ({ id }),

    async turn(_state, batch, id) {
      const results = await deps.store.favorites.apply(
        id,
        batch.map((msg) => ({ type: msg.type, videoId: msg.videoId, at: deps.ids.next() })),
      );
      const reply = (msg: FavoriteMsg, i: number): FavoriteReply | TremoloError => {
        const r = results[i];
        if (r === undefined) return new TremoloError('E_INTERNAL', 'the store answered fewer ops than it was given');
        return r.ok ? { changed: r.changed, videoId: msg.videoId, favorites: r.favorites } : new TremoloError(r.code);
      };
      return {
        answer: { favorite: reply, unfavorite: reply },
        afterCommit: () => {
          batch.forEach((msg, i) => {
            const r = results[i];
            if (msg.type !== 'favorite' || !r?.ok || !r.changed || msg.ownerId === id) return;
            deps.sink.publish({
              type: 'notification',
              userId: msg.ownerId,
              notification: { type: 'video:favorited', videoId: msg.videoId, userId: id, favorites: r.favorites },
            });
          });
        },
      };
    },
  };
}
