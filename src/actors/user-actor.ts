/**
 * UserActor: one user's follows. A turn applies its batch of follow/unfollow ops in one
 * `users.applyOps` call and then tells each newly followed user.
 */
import type { Clock } from '../domain/clock.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Store, UserOp } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import { actorKind, type ActorBehavior } from './runtime.ts';

export type UserMsg = UserOp;
export interface UserReply {
  /** False when the follow (or unfollow) was already in place. */
  changed: boolean;
}

/** The reply to each type of UserMsg. */
export interface UserReplies {
  follow: UserReply;
  unfollow: UserReply;
}

export const USER_ACTOR = actorKind<UserMsg, UserReplies>('user');

export interface UserActorDeps {
  store: Store;
  clock: Clock;
  sink: EventSink;
  /** Told after follows change, with every user whose counts moved (caches). */
  onFollowsChanged?: (userIds: string[]) => void;
}

export function userActor(deps: UserActorDeps): ActorBehavior<{ id: string }, UserMsg, UserReplies> {
  return {
    async activate(id) {
      if (!(await deps.store.users.get(id))) throw new TremoloError('E_USER_NOT_FOUND');
      return { id };
    },

    async turn(_state, batch, id) {
      const results = await deps.store.users.applyOps(id, [...batch], { now: deps.clock.now() });
      const reply = (_msg: UserMsg, i: number): UserReply | TremoloError => {
        const r = results[i];
        if (r === undefined) return new TremoloError('E_INTERNAL', 'the store answered fewer ops than it was given');
        return r.ok ? { changed: r.changed } : new TremoloError(r.code);
      };
      return {
        answer: { follow: reply, unfollow: reply },
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
