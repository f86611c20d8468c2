/**
 * Direct messages on the wire: conversations, messages, their log events and receipts,
 * typed once for the server, the SDK and the tests (docs/protocol.md describes them).
 *
 * A conversation's log gives every change one `seq` (1, 2, 3, ...) in one total order over
 * all processes; a client keeps, per conversation, the last `seq` it holds and its `epoch`.
 */

/** Who may start or continue a one-to-one conversation with a user. */
export type DmPolicy = 'anyone' | 'mutual' | 'nobody';
export const DM_POLICIES: readonly DmPolicy[] = ['anyone', 'mutual', 'nobody'];

export type ConversationKind = 'direct' | 'group';

export interface DirectMessage {
  /** `<conversationId>:<seq>`. */
  id: string;
  conversationId: string;
  seq: number;
  senderId: string;
  createdAt: string;
  /** Text (filtered), possibly empty when a video is shared. */
  text: string;
  /** A shared video, shown as a card. */
  videoId?: string;
  /** The seq of the message this one answers. */
  replyTo?: number;
  /** Set once the sender deleted it for everyone: the text and video are gone. */
  deleted?: boolean;
}

/** One entry of a conversation's log. */
export type DmEvent =
  | { type: 'message'; seq: number; message: DirectMessage }
  | { type: 'deleted'; seq: number; messageSeq: number; userId: string }
  | { type: 'left'; seq: number; userId: string };

/** One member's receipts and settings. */
export interface MemberState {
  userId: string;
  /** Highest seq delivered to any of the member's devices. */
  delivered: number;
  /** Highest seq the member has read (read implies delivered). */
  read: number;
  /** Messages of others after `read`, not deleted. */
  unread: number;
  muted: boolean;
}

/** What a member sees of a conversation (the inbox row, the sync snapshot). */
export interface ConversationView {
  id: string;
  kind: ConversationKind;
  /** Current members (a member who left is no longer listed). */
  members: string[];
  /** Seq of the newest log entry. */
  head: number;
  epoch: string;
  /** ms since the epoch of the last change. */
  activity: number;
  lastMessage?: DirectMessage;
  /** The viewer's own unread count, mute flag and read position. */
  unread: number;
  muted: boolean;
  read: number;
  /** Every member's receipts. */
  receipts: { userId: string; delivered: number; read: number }[];
}

/** Payload of `dm:events`: new log entries of one conversation, in seq order, each sent once. */
export interface DmEventsPayload {
  conversationId: string;
  epoch: string;
  events: DmEvent[];
}

export interface DmReceiptPayload {
  conversationId: string;
  userId: string;
  delivered: number;
  read: number;
  /** The member's unread count after the receipt (for their own devices). */
  unread: number;
}

export interface DmTypingPayload {
  conversationId: string;
  userId: string;
}

/** A client's position in one conversation, for `dm:sync`. */
export interface SyncCursor {
  conversationId: string;
  seq: number;
  epoch?: string;
}

export interface SyncedConversation {
  conversation: ConversationView;
  /** The entries after the client's seq (in order), or with `recovered: false` the newest page. */
  events: DmEvent[];
  /** False when the log no longer reaches back to the client's seq (or the epoch changed): replace what you hold. */
  recovered: boolean;
}

export interface SyncReply {
  /** Give this back as `since` next time. */
  syncPoint: number;
  conversations: SyncedConversation[];
  /** More conversations changed: sync again with `since: syncPoint`. */
  more: boolean;
}

/** Where to send: an existing conversation, a user (one-to-one), or several users (a new group). */
export interface SendTarget {
  conversationId?: string;
  toUserId?: string;
  memberIds?: string[];
}

export interface SendRequest extends SendTarget {
  text?: string;
  videoId?: string;
  replyTo?: number;
  idempotencyKey: string;
}

export interface SendReply {
  message: DirectMessage;
  duplicate: boolean;
  epoch: string;
}

/** The one-to-one conversation of two users: the same id whoever writes first. */
export function directConversationId(a: string, b: string): string {
  return a < b ? `${a}.${b}` : `${b}.${a}`;
}

/** A direct conversation id is two TSIDs with a dot; a group id `g` and 24 hex digits. */
export const CONVERSATION_ID_PATTERN = '^([0-9A-HJKMNP-TV-Z]{13}\\.[0-9A-HJKMNP-TV-Z]{13}|g[0-9a-f]{24})$';
const CONVERSATION_ID = new RegExp(CONVERSATION_ID_PATTERN);
export const isConversationId = (value: unknown): value is string => typeof value === 'string' && CONVERSATION_ID.test(value);
