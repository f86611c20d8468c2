/**
 * UserActor: one user's follows. A turn applies its batch of follow/unfollow ops in one
 * `users.applyOps` call and then tells each newly followed user.
 */
import { TremoloError } from '../protocol/errors.ts';
import type { Store, UserOp } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import type { ActorBehavior } from './runtime.ts';

export const USER_ACTOR = 'user';

export type UserMsg = UserOp;
export interface UserReply {
  changed: boolean;
}

export interface UserActorDeps {
  store: Store;
  sink: EventSink;
  /** Told after follows change, with every user whose counts moved (caches). */
  onFollowsChanged?: (userIds: string[]) => void;
}

export function userActor(deps: UserActorDeps): ActorBehavior<{ id: string }, UserMsg, UserReply> {
  return {
    async activate(id) {
      if (!(await deps.store.users.get(id))) throw new TremoloError('E_USER_NOT_FOUND');
      return { id };
    },

    async turn(_state, batch, id) {
      const results = await deps.store.users.applyOps(id, [...batch]);
      const replies = results.map((r) => (r.ok ? { changed: r.changed } : new TremoloError(r.code)));
      return {
        replies,
        afterCommit: () => {
          const touched = new Set<string>();
          batch.forEach((op, i) => {
            const r = results[i];
            if (!r?.ok || !r.changed) return;
            touched.add(op.targetId);
            if (op.type === 'follow') {
              deps.sink.publish({ type: 'notification', userId: op.targetId, notification: { type: 'user:followed', followerId: id } });
            }
          });
          if (touched.size) deps.onFollowsChanged?.([id, ...touched]);
        },
      };
    },
  };
}
