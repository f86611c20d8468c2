/**
 * Direct messages: the rules around the ConversationActor. Who may message whom (one
 * predicate, dm-permissions.ts), where a send goes (a conversation, a user, or several users
 * forming a new group), what a member sees (views, inbox, history, sync) and typing, which is
 * ephemeral: checked, throttled and published, never stored.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../domain/clock.ts';
import { isTsid } from '../domain/ids.ts';
import { requireText } from '../domain/text.ts';
import {
  directConversationId,
  isConversationId,
  type ConversationView,
  type DmEvent,
  type DmPolicy,
  type MemberState,
  type SendRequest,
  type SyncCursor,
  type SyncReply,
  type SyncedConversation,
} from '../protocol/dm.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { Page, PageRequest } from '../protocol/model.ts';
import { decodeOffsetCursor, encodeCursor } from '../storage/cursor.ts';
import type { ConversationState, DmEventRange, Store } from '../storage/store.ts';
import { CONVERSATION_ACTOR, type ConversationMsg, type SendResult } from './conversation-actor.ts';
import type { ContentFilter } from '../domain/moderation.ts';
import { filterDmText } from './dm-permissions.ts';
import type { EventSink } from './events.ts';
import type { ActorSystem } from './runtime.ts';

export interface DmLimits {
  /** Most members of a group, its creator included (DM_GROUP_MAX). */
  groupMax: number;
  textMaxChars: number;
  /** How long after sending a message may be deleted for everyone. */
  deleteWindowMs: number;
  /** Most log entries per conversation in one sync reply; the rest follow as `dm:events`. */
  syncPage: number;
  /** Most conversations in one sync reply. */
  syncConversations: number;
  /** One typing event per user and conversation per this interval; more are dropped. */
  typingIntervalMs: number;
}

export const DEFAULT_DM_LIMITS: DmLimits = {
  groupMax: 32,
  textMaxChars: 2000,
  deleteWindowMs: 120_000,
  syncPage: 100,
  syncConversations: 100,
  typingIntervalMs: 1000,
};

/** Typing throttle entries kept in memory; beyond it typing is dropped until old ones expire. */
const TYPING_TRACKED_MAX = 100_000;

export interface ConversationServiceDeps {
  store: Store;
  sink: EventSink;
  clock: Clock;
  actors: ActorSystem;
  limits: DmLimits;
  userExists(userId: string): Promise<boolean>;
  videoExists(videoId: string): Promise<boolean>;
  /** The sensitive-word filter applied to message text; absent: none. */
  contentFilter?: ContentFilter;
}

export class ConversationService {
  private readonly typingAt = new Map<string, number>();

  constructor(private readonly deps: ConversationServiceDeps) {}

  get limits(): DmLimits {
    return this.deps.limits;
  }

  /** Sends a message; a retry with the same idempotency key answers with the stored one. */
  async send(senderId: string, req: SendRequest): Promise<SendResult> {
    requireUser(senderId);
    const key = req.idempotencyKey;
    if (typeof key !== 'string' || key.length < 1 || key.length > 128) {
      throw new TremoloError('E_VALIDATION', 'idempotencyKey must be a string of 1 to 128 characters', { details: { field: 'idempotencyKey' } });
    }
    const hasVideo = req.videoId !== undefined;
    if (hasVideo && !isTsid(req.videoId)) throw new TremoloError('E_VALIDATION', 'videoId must be a 13-character id', { details: { field: 'videoId' } });
    const text = filterDmText(
      req.text === undefined && hasVideo ? '' : requireText('text', req.text, { min: hasVideo ? 0 : 1, max: this.deps.limits.textMaxChars }),
      this.deps.contentFilter,
    );
    if (req.replyTo !== undefined && (!Number.isSafeInteger(req.replyTo) || req.replyTo < 1)) {
      throw new TremoloError('E_VALIDATION', 'replyTo must be a positive integer', { details: { field: 'replyTo' } });
    }
    const { conversationId, create, mayMessage } = await this.target(senderId, req);
    if (hasVideo && !(await this.deps.videoExists(req.videoId!))) throw new TremoloError('E_VIDEO_NOT_FOUND');
    return this.ask(conversationId, {
      type: 'send',
      senderId,
      text,
      idempotencyKey: key,
      ...(hasVideo ? { videoId: req.videoId! } : {}),
      ...(req.replyTo !== undefined ? { replyTo: req.replyTo } : {}),
      ...(create ? { create } : {}),
      ...(mayMessage ? { mayMessage } : {}),
    });
  }

  async deleteMessage(userId: string, conversationId: string, seq: number): Promise<{ deleted: boolean }> {
    requireUser(userId);
    requireSeq('seq', seq, 1);
    return this.ask(requireConversation(conversationId), { type: 'delete', userId, messageSeq: seq });
  }

  /** Delivered and read receipts; they only move forward. */
  async receipt(userId: string, conversationId: string, r: { delivered?: number; read?: number }): Promise<MemberState> {
    requireUser(userId);
    if (r.delivered !== undefined) requireSeq('delivered', r.delivered, 0);
    if (r.read !== undefined) requireSeq('read', r.read, 0);
    return this.ask(requireConversation(conversationId), { type: 'receipt', userId, ...r });
  }

  async mute(userId: string, conversationId: string, muted: boolean): Promise<MemberState> {
    requireUser(userId);
    return this.ask(requireConversation(conversationId), { type: 'mute', userId, muted: muted === true });
  }

  async leave(userId: string, conversationId: string): Promise<{ left: boolean }> {
    requireUser(userId);
    return this.ask(requireConversation(conversationId), { type: 'leave', userId });
  }

  /**
   * Tells the other members that `userId` is typing. Never stored; at most one per user and
   * conversation per `typingIntervalMs` (`sent: false` for the rest).
   */
  async typing(userId: string, conversationId: string): Promise<{ sent: boolean }> {
    requireUser(userId);
    const state = await this.memberOf(userId, requireConversation(conversationId), true);
    const now = this.deps.clock.now();
    const key = `${userId}|${conversationId}`;
    const last = this.typingAt.get(key);
    if (last !== undefined && now - last < this.deps.limits.typingIntervalMs) return { sent: false };
    if (last === undefined && this.typingAt.size >= TYPING_TRACKED_MAX) {
      for (const [k, at] of this.typingAt) if (now - at >= this.deps.limits.typingIntervalMs) this.typingAt.delete(k);
      if (this.typingAt.size >= TYPING_TRACKED_MAX) return { sent: false };
    }
    this.typingAt.delete(key); // re-inserted last: the map stays in time order for the sweep above
    this.typingAt.set(key, now);
    const others = state.members.filter((m) => m !== userId);
    if (others.length) this.deps.sink.publish({ type: 'dm:typing', userIds: others, typing: { conversationId, userId } });
    return { sent: true };
  }

  async conversation(userId: string, conversationId: string): Promise<ConversationView> {
    requireUser(userId);
    return viewFor(userId, await this.memberOf(userId, requireConversation(conversationId), false));
  }

  /** The user's conversations by last activity, newest first. */
  async inbox(userId: string, page: PageRequest): Promise<Page<ConversationView>> {
    requireUser(userId);
    const before = page.cursor === undefined || page.cursor === '' ? undefined : decodeOffsetCursor(page.cursor);
    const rows = await this.deps.store.conversations.inbox(userId, before, page.limit + 1);
    const states = await this.deps.store.conversations.getMany(rows.slice(0, page.limit).map((r) => r.conversationId));
    const items = states.flatMap((s) => (s && s.members.includes(userId) ? [viewFor(userId, s)] : []));
    const last = rows[page.limit - 1];
    return rows.length > page.limit && last ? { items, nextCursor: encodeCursor(last.activity) } : { items };
  }

  /** Log entries of a conversation before a seq (cursor), newest first. */
  async history(userId: string, conversationId: string, page: PageRequest): Promise<Page<DmEvent>> {
    requireUser(userId);
    const id = requireConversation(conversationId);
    await this.memberOf(userId, id, false);
    const before = page.cursor === undefined || page.cursor === '' ? undefined : decodeOffsetCursor(page.cursor);
    const events = await this.deps.store.conversations.history(id, before, page.limit + 1);
    const items = events.slice(0, page.limit);
    return events.length > page.limit ? { items, nextCursor: encodeCursor(items.at(-1)!.seq) } : { items };
  }

  /**
   * Every conversation of `userId` changed since `since` (ms, from the last reply's syncPoint),
   * oldest change first: the entries after the client's seq for each, in order, or the newest
   * page with `recovered: false` when the log no longer reaches back, the epoch changed or the
   * client holds nothing of it.
   */
  async sync(userId: string, since: number, cursors: readonly SyncCursor[]): Promise<SyncReply> {
    requireUser(userId);
    requireSeq('since', since, 0);
    const { store, limits } = this.deps;
    const held = new Map(cursors.map((c) => [c.conversationId, c]));
    const changed = await store.conversations.changedSince(userId, since, limits.syncConversations + 1);
    const more = changed.length > limits.syncConversations;
    const rows = changed.slice(0, limits.syncConversations);
    const states = await store.conversations.getMany(rows.map((r) => r.conversationId));
    const conversations: SyncedConversation[] = [];
    for (const state of states) {
      if (!state || !state.members.includes(userId)) continue;
      const cursor = held.get(state.id);
      let synced: SyncedConversation | undefined;
      if (cursor && (cursor.epoch === undefined || cursor.epoch === state.epoch)) {
        const range = await store.conversations.events(state.id, cursor.seq, limits.syncPage);
        if (range.complete && range.epoch === state.epoch) synced = { conversation: viewFor(userId, state), events: range.events, recovered: true };
      }
      synced ??= {
        conversation: viewFor(userId, state),
        events: (await store.conversations.history(state.id, undefined, limits.syncPage)).reverse(),
        recovered: false,
      };
      conversations.push(synced);
    }
    const syncPoint = rows.length ? rows[rows.length - 1]!.activity : since;
    return { syncPoint, conversations, more };
  }

  /** Entries after `sinceSeq` for catching up a device that a live delivery found behind (transport). */
  catchUp(conversationId: string, sinceSeq: number, limit: number): Promise<DmEventRange> {
    return this.deps.store.conversations.events(requireConversation(conversationId), sinceSeq, limit);
  }

  async policy(userId: string): Promise<DmPolicy> {
    requireUser(userId);
    return this.deps.store.conversations.policy(userId);
  }

  async setPolicy(userId: string, policy: DmPolicy): Promise<DmPolicy> {
    requireUser(userId);
    if (policy !== 'anyone' && policy !== 'mutual' && policy !== 'nobody') {
      throw new TremoloError('E_VALIDATION', 'policy must be anyone, mutual or nobody', { details: { field: 'policy' } });
    }
    await this.deps.store.conversations.setPolicy(userId, policy);
    return policy;
  }

  // ------------------------------------------------------------ internals

  private ask<const M extends Exclude<ConversationMsg, { type: 'read' }>>(conversationId: string, msg: M) {
    return this.deps.actors.ask(CONVERSATION_ACTOR, conversationId, msg);
  }

  /** The conversation, if `userId` is in it; else E_CONVERSATION_NOT_FOUND (not telling outsiders it exists). */
  private async memberOf(userId: string, conversationId: string, cached: boolean): Promise<ConversationState> {
    const state = cached
      ? await this.deps.actors.ask(CONVERSATION_ACTOR, conversationId, { type: 'read' })
      : await this.deps.store.conversations.get(conversationId);
    if (!state || !state.members.includes(userId)) throw new TremoloError('E_CONVERSATION_NOT_FOUND');
    return state;
  }

  /**
   * Where a send goes, how to create it if it is new, and whom the sender must be allowed to
   * message: the actor checks that predicate once per batch (conversation-actor.ts).
   */
  private async target(
    senderId: string,
    req: SendRequest,
  ): Promise<{ conversationId: string; create?: { kind: 'direct' | 'group'; members: string[] }; mayMessage?: string[] }> {
    const given = [req.conversationId, req.toUserId, req.memberIds].filter((x) => x !== undefined).length;
    if (given !== 1) throw new TremoloError('E_VALIDATION', 'Give exactly one of conversationId, toUserId and memberIds', { details: { field: 'conversationId' } });
    if (req.conversationId !== undefined) {
      const id = requireConversation(req.conversationId);
      if (id.startsWith('g')) return { conversationId: id };
      const members = id.split('.');
      if (!members.includes(senderId)) throw new TremoloError('E_CONVERSATION_NOT_FOUND');
      const other = members.find((m) => m !== senderId) ?? senderId;
      return { conversationId: id, create: { kind: 'direct', members }, mayMessage: [other] };
    }
    if (req.toUserId !== undefined) {
      const to = req.toUserId;
      if (!isTsid(to)) throw new TremoloError('E_VALIDATION', 'toUserId must be a 13-character id', { details: { field: 'toUserId' } });
      if (to === senderId) throw new TremoloError('E_VALIDATION', 'You cannot message yourself', { details: { field: 'toUserId' } });
      if (!(await this.deps.userExists(to))) throw new TremoloError('E_USER_NOT_FOUND');
      return { conversationId: directConversationId(senderId, to), create: { kind: 'direct', members: [senderId, to].sort() }, mayMessage: [to] };
    }
    const ids = req.memberIds;
    if (!Array.isArray(ids) || ids.some((m) => !isTsid(m))) {
      throw new TremoloError('E_VALIDATION', 'memberIds must be a list of user ids', { details: { field: 'memberIds' } });
    }
    const others = [...new Set(ids)].filter((m) => m !== senderId);
    if (others.length === 0) throw new TremoloError('E_VALIDATION', 'A group needs at least one other member', { details: { field: 'memberIds' } });
    if (others.length + 1 > this.deps.limits.groupMax) throw new TremoloError('E_GROUP_FULL', `A group has at most ${this.deps.limits.groupMax} members`);
    const exists = await Promise.all(others.map((m) => this.deps.userExists(m)));
    if (exists.includes(false)) throw new TremoloError('E_USER_NOT_FOUND');
    // the same creator and key always name the same group: a retried first send creates it once
    const id = `g${createHash('sha256').update(`${senderId}:${req.idempotencyKey}`).digest('hex').slice(0, 24)}`;
    return { conversationId: id, create: { kind: 'group', members: [senderId, ...others] }, mayMessage: others };
  }
}

/** What `userId` sees of a conversation. */
export function viewFor(userId: string, state: ConversationState): ConversationView {
  const me = state.memberStates.find((m) => m.userId === userId);
  return {
    id: state.id,
    kind: state.kind,
    members: state.members,
    head: state.head,
    epoch: state.epoch,
    activity: state.activity,
    ...(state.lastMessage ? { lastMessage: state.lastMessage } : {}),
    unread: me?.unread ?? 0,
    muted: me?.muted ?? false,
    read: me?.read ?? 0,
    receipts: state.memberStates.map((m) => ({ userId: m.userId, delivered: m.delivered, read: m.read })),
  };
}

function requireUser(userId: string): void {
  if (!isTsid(userId)) throw new TremoloError('E_VALIDATION', 'userId must be a 13-character id', { details: { field: 'userId' } });
}

function requireConversation(id: unknown): string {
  if (!isConversationId(id)) throw new TremoloError('E_VALIDATION', 'conversationId is malformed', { details: { field: 'conversationId' } });
  return id;
}

function requireSeq(field: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TremoloError('E_VALIDATION', `${field} must be an integer >= ${min}`, { details: { field } });
  }
}
