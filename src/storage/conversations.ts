/**
 * The conversation store's contract (direct messages): what ConversationActor hands a driver
 * and gets back. Both drivers (memory/conversations.ts, redis/conversations.ts) implement it
 * and share the few rules that are not storage-shaped (the log bound's default), so neither
 * repeats the other's declarations.
 */
import type { ConversationKind, DirectMessage, DmEvent, DmPolicy, MemberState } from '../protocol/dm.ts';
import type { StoreLimits } from './store.ts';

/** DM_LOG_MAX's default, where a caller gave none. */
export const DEFAULT_DM_LOG_MAX = 10_000;

/** Entries kept in each conversation's log under `limits`. */
export function conversationLogMax(limits: StoreLimits): number {
  return limits.dmLogMax ?? DEFAULT_DM_LOG_MAX;
}

/** A turn's clock, and how to create the conversation if its first op finds none. */
export interface ApplyOptions {
  now: number;
  create?: { kind: ConversationKind; members: string[] };
}


/** A new message as the actor makes it; the store gives it its seq. */
export interface NewMessage {
  /** Unique per send attempt (a TSID); the message's id is `<conversationId>:<seq>`. */
  senderId: string;
  createdAt: string;
  text: string;
  videoId?: string;
  replyTo?: number;
}

export type ConversationOp =
  | { type: 'send'; message: NewMessage; idempotencyKey: string }
  /** Deletes a message for everyone; only its sender, and only if sent at or after `notBefore` (ms). */
  | { type: 'delete'; userId: string; messageSeq: number; notBefore: number }
  /** Receipts only move forward; `read` implies delivered. */
  | { type: 'receipt'; userId: string; delivered?: number; read?: number }
  | { type: 'mute'; userId: string; muted: boolean }
  | { type: 'leave'; userId: string };

export type ConversationOpResult =
  | { ok: true; type: 'send'; message: DirectMessage; duplicate: boolean }
  | { ok: true; type: 'delete'; deleted: boolean }
  | { ok: true; type: 'receipt'; member: MemberState; changed: boolean }
  | { ok: true; type: 'mute'; member: MemberState }
  | { ok: true; type: 'leave'; changed: boolean }
  | { ok: false; code: 'E_CONVERSATION_NOT_FOUND' | 'E_MESSAGE_NOT_FOUND' | 'E_FORBIDDEN' | 'E_DM_DELETE_EXPIRED' | 'E_REPLY_TARGET' };

export interface ConversationState {
  id: string;
  kind: ConversationKind;
  /** Current members, in the order they joined. */
  members: string[];
  memberStates: MemberState[];
  head: number;
  epoch: string;
  activity: number;
  lastMessage?: DirectMessage;
}

export interface ConversationBatchResult {
  /** One per op, in order. */
  results: ConversationOpResult[];
  state: ConversationState;
  /** Entries this batch appended to the log, in seq order. */
  events: DmEvent[];
  /** Members who left in this batch (they still hear of it). */
  departed: string[];
}

export interface DmEventRange {
  epoch: string;
  events: DmEvent[];
  /** False when the log no longer reaches back to `sinceSeq` (the caller needs a snapshot). */
  complete: boolean;
  head: number;
}

export interface ConversationStore {
  /**
   * Applies a turn's ops atomically, creating the conversation with `create` first when it does
   * not exist. Without `create`, a missing conversation fails the call with E_CONVERSATION_NOT_FOUND.
   * Ops by a user who is not a member fail alone with E_CONVERSATION_NOT_FOUND.
   */
  applyOps(
    conversationId: string,
    ops: ConversationOp[],
    opts: ApplyOptions,
  ): Promise<ConversationBatchResult>;
  get(conversationId: string): Promise<ConversationState | null>;
  getMany(conversationIds: readonly string[]): Promise<(ConversationState | null)[]>;
  /** Log entries with seq > sinceSeq, oldest first, at most `limit`. */
  events(conversationId: string, sinceSeq: number, limit: number): Promise<DmEventRange>;
  /** Log entries with seq < beforeSeq (undefined: from the head), newest first, at most `limit`. */
  history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<DmEvent[]>;
  /** Puts (or moves) the conversation in each user's index at `activity` (ms); never moves it back. Idempotent. */
  touch(userIds: readonly string[], conversationId: string, activity: number): Promise<void>;
  /** Takes the conversation out of a user's index (after leaving). */
  untouch(userId: string, conversationId: string): Promise<void>;
  /** A user's conversations by last activity, newest first, with activity < `before` (ms; undefined: all). */
  inbox(userId: string, before: number | undefined, limit: number): Promise<{ conversationId: string; activity: number }[]>;
  /** A user's conversations with activity >= `since`, oldest first. */
  changedSince(userId: string, since: number, limit: number): Promise<{ conversationId: string; activity: number }[]>;
  policy(userId: string): Promise<DmPolicy>;
  setPolicy(userId: string, policy: DmPolicy): Promise<void>;
}
