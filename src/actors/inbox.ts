/**
 * The notifications inbox. Every notification any actor publishes (`{ type: 'notification' }`
 * on the EventSink) passes through ONE place, `InboxRouter`, which forwards it live as before
 * and tells the recipient's InboxActor; a new producer needs no wiring of its own.
 *
 * Persisting stays off the hot path: the like or comment is acknowledged by its VideoActor
 * when ITS write is durable; the inbox write is a later, separate turn of the recipient's
 * InboxActor, which folds every notification queued for that user into ONE storage call
 * (group commit). Told, not asked: the producer never waits for it.
 *
 * Delivery guarantee: at most once. An inbox entry is derived from an acknowledged write, not
 * acknowledged itself: a crash between the two, a full mailbox (E_BUSY) or a failed inbox
 * write loses the entry (the like itself is never lost). The live `notification` and `unread`
 * events go out only after the inbox write is durable, so a client never sees an entry that
 * a reload would not show.
 */
import type { Clock } from '../domain/clock.ts';
import type { TsidGenerator } from '../domain/ids.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Notification } from '../protocol/model.ts';
import type { InboxItem, InboxLimits } from '../storage/social.ts';
import type { Store } from '../storage/store.ts';
import type { EngineEvent, EventSink } from './events.ts';
import { actorKind, type ActorBehavior, type ActorSystem } from './runtime.ts';

export type InboxMsg = { type: 'notify'; item: Omit<InboxItem, 'entryId'> };
export interface InboxReplies {
  notify: { unread: number };
}

export const INBOX_ACTOR = actorKind<InboxMsg, InboxReplies>('inbox');

export interface InboxActorDeps {
  store: Store;
  /** The transport's sink (not the router: inbox events are not notifications). */
  sink: EventSink;
  clock: Clock;
  ids: TsidGenerator;
  limits: InboxLimits;
}

export function inboxActor(deps: InboxActorDeps): ActorBehavior<Record<string, never>, InboxMsg, InboxReplies> {
  return {
    // nothing to load: the store folds into whatever the inbox holds
    async activate() {
      return {};
    },
    async turn(_state, batch, userId) {
      const items = batch.map((m): InboxItem => ({ ...m.item, entryId: deps.ids.next() }));
      const written = await deps.store.notifications.add(userId, items, { now: deps.clock.now(), limits: deps.limits });
      return {
        answer: { notify: () => ({ unread: written.unread }) },
        afterCommit: () => {
          if (written.entries.length) deps.sink.publish({ type: 'inbox', userId, entries: written.entries, unread: written.unread });
        },
      };
    },
  };
}

/**
 * What a notification folds into: its type, what it is about (a comment, else a video, else
 * the recipient, e.g. a follow) and who caused it. Read from the fields notifications carry
 * by convention (`commentId`, `videoId`; `likerIds`, `actorId`, `authorId`, `followerId`,
 * `likerId`, `byId`, `userId`), so a new kind of notification folds without a change here.
 */
export function inboxItemOf(userId: string, notification: Notification): Omit<InboxItem, 'entryId'> {
  const f = notification as unknown as Record<string, unknown>;
  const str = (v: unknown): v is string => typeof v === 'string' && v !== '';
  const target = [f.commentId, f.videoId].find(str) ?? userId;
  let actorIds: string[] = [];
  if (Array.isArray(f.likerIds)) actorIds = f.likerIds.filter(str);
  else {
    const actor = [f.actorId, f.authorId, f.followerId, f.likerId, f.byId, f.userId].find(str);
    if (actor !== undefined) actorIds = [actor];
  }
  return { type: notification.type, target, actorIds, notification };
}

export interface InboxRouterDeps {
  /** Where every event goes on to (the transport). */
  sink: EventSink;
  actors: ActorSystem;
  onError: (err: unknown, context: string) => void;
}

/**
 * The EventSink the engine's actors publish to: everything goes on to the transport, and
 * each notification is also told to its recipient's InboxActor.
 */
export class InboxRouter implements EventSink {
  constructor(private readonly deps: InboxRouterDeps) {}

  publish(event: EngineEvent): void {
    this.deps.sink.publish(event);
    if (event.type !== 'notification') return;
    const item = inboxItemOf(event.userId, event.notification);
    this.deps.actors.ask(INBOX_ACTOR, event.userId, { type: 'notify', item }).catch((err: unknown) => {
      // at most once (see above): a full mailbox or a storage outage drops the entry, never the write that caused it
      if (err instanceof TremoloError && (err.code === 'E_BUSY' || err.code === 'E_STORAGE_UNAVAILABLE' || err.code === 'E_SHUTTING_DOWN')) return;
      this.deps.onError(err, `inbox of ${event.userId}: a ${event.notification.type} notification was not stored`);
    });
  }
}
