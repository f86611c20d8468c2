/**
 * Social depth beside the engine's core: the notifications inbox, mentions, blocks and
 * moderation (the sensitive-word filter, reports, hidden videos and comments). The Engine
 * owns one and calls it where a write or a read needs it; routes reach it as `engine.social`.
 */
import type { Clock } from '../domain/clock.ts';
import type { TsidGenerator } from '../domain/ids.ts';
import { findMentions } from '../domain/mentions.ts';
import type { ContentFilter } from '../domain/moderation.ts';
import { requireText } from '../domain/text.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Comment, Page, PageRequest } from '../protocol/model.ts';
import type { InboxPage, Mention, ModerationTarget, Report } from '../protocol/social.ts';
import type { InboxLimits } from '../storage/social.ts';
import type { Store } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import { INBOX_ACTOR, inboxActor, InboxRouter } from './inbox.ts';
import type { ActorSystem } from './runtime.ts';
import { USER_ACTOR } from './user-actor.ts';

export interface SocialLimits {
  inbox: InboxLimits;
  /** Users one user may block (BLOCKS_MAX). */
  blocksMax: number;
  /** Open reports kept before new ones are refused (REPORTS_OPEN_MAX). */
  reportsOpenMax: number;
  /** Mentions resolved per text (MENTIONS_MAX); further `@handle`s stay plain text. */
  mentionsMax: number;
  /** User ids that may moderate (ADMIN_USERS), besides tokens with the `admin` role. */
  admins: readonly string[];
}

export const DEFAULT_SOCIAL_LIMITS: SocialLimits = {
  inbox: { max: 500, windowMs: 24 * 3_600_000, actorsKept: 5 },
  blocksMax: 1000,
  reportsOpenMax: 100_000,
  mentionsMax: 10,
  admins: [],
};

const REASON_MAX_CHARS = 500;

export interface SocialDeps {
  store: Store;
  /** The transport's sink. */
  sink: EventSink;
  clock: Clock;
  ids: TsidGenerator;
  actors: ActorSystem;
  limits: SocialLimits;
  /** The sensitive-word filter; absent: no filtering. */
  filter?: ContentFilter;
  onError: (err: unknown, context: string) => void;
}

/** Who asks, for operator checks: a user id and the roles their token claims. */
export interface Actor {
  userId: string;
  roles?: readonly string[];
}

export class Social {
  /** What the engine's actors publish to: every notification also lands in its recipient's inbox. */
  readonly router: InboxRouter;
  private readonly admins: ReadonlySet<string>;

  constructor(private readonly deps: SocialDeps) {
    const { store, sink, clock, ids, actors, limits } = deps;
    actors.register(INBOX_ACTOR, inboxActor({ store, sink, clock, ids, limits: limits.inbox }));
    this.router = new InboxRouter({ sink, actors, onError: deps.onError });
    this.admins = new Set(limits.admins);
  }

  // ------------------------------------------------------------ inbox

  async inbox(userId: string, page: PageRequest): Promise<InboxPage> {
    return this.deps.store.notifications.list(userId, page);
  }

  async unread(userId: string): Promise<number> {
    return this.deps.store.notifications.unread(userId);
  }

  /** Marks one entry read (E_NOT_FOUND when it is not in the inbox) or all; every socket of the user hears the new count. */
  async markRead(userId: string, entryId?: string): Promise<{ unread: number }> {
    const r = await this.deps.store.notifications.markRead(userId, entryId);
    if (!r.found) throw new TremoloError('E_NOT_FOUND', 'No such notification');
    this.deps.sink.publish({ type: 'inbox:unread', userId, unread: r.unread });
    return { unread: r.unread };
  }

  // ------------------------------------------------------------ text: filter and mentions

  /** `value` through the sensitive-word filter: masked, or E_CONTENT_REJECTED naming `field`. */
  text(field: string, value: string): string {
    return this.deps.filter ? this.deps.filter.check(field, value) : value;
  }

  /** A handle must not need masking either: a masked handle is no handle. */
  handle(value: string): string {
    const checked = this.text('handle', value);
    if (checked !== value) throw new TremoloError('E_CONTENT_REJECTED', 'The handle contains words that are not allowed', { details: { field: 'handle' } });
    return value;
  }

  /**
   * The users `text` mentions, resolved now (a later handle change keeps naming them). E_BLOCKED
   * when a mentioned user blocks the author; unknown handles stay plain text.
   */
  async mentions(authorId: string, text: string): Promise<Mention[]> {
    const found = findMentions(text, this.deps.limits.mentionsMax);
    const users = await Promise.all(found.map((m) => this.deps.store.users.getByHandle(m.handle)));
    const out: Mention[] = [];
    for (const [i, m] of found.entries()) {
      const user = users[i];
      if (!user) continue;
      if (user.id !== authorId && (await this.deps.store.blocks.blocks(user.id, authorId))) {
        throw new TremoloError('E_BLOCKED', `@${user.handle} does not accept mentions from you`, { details: { field: 'text' } });
      }
      out.push({ userId: user.id, start: m.start, end: m.end });
    }
    return out;
  }

  /** Tells each mentioned user (not the author) once the text is stored. */
  notifyMentions(authorId: string, mentions: readonly Mention[], about: { videoId: string; commentId?: string; text: string }): void {
    for (const userId of new Set(mentions.map((m) => m.userId))) {
      if (userId === authorId) continue;
      this.router.publish({ type: 'notification', userId, notification: { type: 'user:mentioned', authorId, ...about } });
    }
  }

  // ------------------------------------------------------------ blocks

  /**
   * `userId` blocks `targetId`: from now on the target cannot follow, comment on the user's
   * videos, reply to or mention them (E_BLOCKED); follows between the two end, both ways,
   * through each follower's UserActor (so counts stay exact).
   */
  async block(userId: string, targetId: string): Promise<{ changed: boolean }> {
    if (userId === targetId) throw new TremoloError('E_VALIDATION', 'You cannot block yourself', { details: { field: 'userId' } });
    const r = await this.deps.store.blocks.block(userId, targetId, this.deps.limits.blocksMax);
    const { actors } = this.deps;
    await Promise.all([
      actors.ask(USER_ACTOR, userId, { type: 'unfollow', targetId }),
      actors.ask(USER_ACTOR, targetId, { type: 'unfollow', targetId: userId }),
    ]);
    return r;
  }

  async unblock(userId: string, targetId: string): Promise<{ changed: boolean }> {
    return this.deps.store.blocks.unblock(userId, targetId);
  }

  async blocked(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.deps.store.blocks.blocked(userId, page);
  }

  /** E_BLOCKED when `userId` blocks `actorId` (who wants to comment, reply or mention). */
  async refuseBlocked(userId: string, actorId: string): Promise<void> {
    if (userId !== actorId && (await this.deps.store.blocks.blocks(userId, actorId))) throw new TremoloError('E_BLOCKED');
  }

  // ------------------------------------------------------------ what a viewer sees

  /** Videos without hidden ones and, for a signed-in viewer, without those of users they block. */
  async visibleVideos<V extends { id: string; ownerId: string }>(videos: readonly V[], viewerId?: string): Promise<V[]> {
    if (videos.length === 0) return [];
    const [hidden, blocked] = await Promise.all([
      this.deps.store.moderation.hidden(videos.map((v) => ({ type: 'video', id: v.id }))),
      viewerId === undefined ? Promise.resolve([]) : this.deps.store.blocks.allBlocked(viewerId),
    ]);
    const blocks = new Set(blocked);
    return videos.filter((v, i) => (hidden[i] === null || v.ownerId === viewerId) && !blocks.has(v.ownerId));
  }

  /** Comments without hidden ones and, for a signed-in viewer, without those of users they block. */
  async visibleComments(comments: readonly Comment[], viewerId?: string): Promise<Comment[]> {
    if (comments.length === 0) return [];
    const [hidden, blocked] = await Promise.all([
      this.deps.store.moderation.hidden(comments.map((c) => ({ type: 'comment', id: c.id }))),
      viewerId === undefined ? Promise.resolve([]) : this.deps.store.blocks.allBlocked(viewerId),
    ]);
    const blocks = new Set(blocked);
    return comments.filter((c, i) => hidden[i] === null && !blocks.has(c.authorId));
  }

  async isHidden(target: ModerationTarget): Promise<boolean> {
    return (await this.deps.store.moderation.hidden([target]))[0] !== null;
  }

  // ------------------------------------------------------------ moderation

  isAdmin(actor: Actor): boolean {
    return this.admins.has(actor.userId) || (actor.roles?.includes('admin') ?? false);
  }

  requireAdmin(actor: Actor): void {
    if (!this.isAdmin(actor)) throw new TremoloError('E_FORBIDDEN', 'Only operators can do this');
  }

  /** Files a report (deduplicated per reporter and target while open). */
  async report(reporterId: string, target: ModerationTarget, reason: unknown): Promise<{ report: Report; duplicate: boolean }> {
    const text = requireText('reason', reason, { min: 1, max: REASON_MAX_CHARS });
    const report: Report = { id: this.deps.ids.next(), reporterId, target, reason: text, createdAt: new Date(this.deps.clock.now()).toISOString() };
    return this.deps.store.moderation.report(report, this.deps.limits.reportsOpenMax);
  }

  async openReports(actor: Actor, page: PageRequest): Promise<Page<Report>> {
    this.requireAdmin(actor);
    return this.deps.store.moderation.openReports(page);
  }

  /**
   * Hides a video or a comment (the first reason stays), closes its open reports, removes it
   * live for watchers and tells its author. `authorId` and `videoId` come from the caller,
   * which has looked the target up.
   */
  async hide(actor: Actor, target: ModerationTarget & { type: 'video' | 'comment' }, about: { videoId: string; authorId: string }, reason: unknown): Promise<{ changed: boolean }> {
    this.requireAdmin(actor);
    const text = requireText('reason', reason, { min: 1, max: REASON_MAX_CHARS });
    const changed = await this.deps.store.moderation.hide(target, { reason: text, by: actor.userId, at: new Date(this.deps.clock.now()).toISOString() });
    await this.deps.store.moderation.resolveReports(target);
    if (changed) {
      const commentId = target.type === 'comment' ? { commentId: target.id } : {};
      this.deps.sink.publish({ type: 'content:hidden', videoId: about.videoId, ...commentId });
      this.router.publish({ type: 'notification', userId: about.authorId, notification: { type: 'content:hidden', videoId: about.videoId, ...commentId, reason: text } });
    }
    return { changed };
  }

  async restore(actor: Actor, target: ModerationTarget & { type: 'video' | 'comment' }, about: { videoId: string; authorId: string }): Promise<{ changed: boolean }> {
    this.requireAdmin(actor);
    const changed = await this.deps.store.moderation.restore(target);
    if (changed) {
      const commentId = target.type === 'comment' ? { commentId: target.id } : {};
      this.router.publish({ type: 'notification', userId: about.authorId, notification: { type: 'content:restored', videoId: about.videoId, ...commentId } });
    }
    return { changed };
  }
}
