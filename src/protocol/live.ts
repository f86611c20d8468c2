/**
 * The Socket.IO contract: every event and its payload, typed once and shared by the
 * server gateway, the client SDK and the tests (a typo is a compile error). docs/protocol.md
 * specifies the same shapes for clients in other languages; test/unit/docs.test.ts checks it
 * names every event here. Optional fields are absent, never null.
 */
import type { ErrorCode, FailedAck } from './errors.ts';
import type { Comment, Counters, ForYouVideo, Notification, Page, CommentView } from './model.ts';
import type { DmEvent, DmEventsPayload, DmReceiptPayload, DmTypingPayload, SendReply, SendRequest, SyncCursor, SyncReply } from './dm.ts';
import type { ProgressReport } from './interactions.ts';
import type { InboxEntry } from './social.ts';
import type { TraceContext } from '../telemetry/tracing.ts';

export type Ack<T> = ({ ok: true } & T) | FailedAck;
export type AckFn<T> = (reply: Ack<T>) => void;

export interface WatchRequest {
  videoId: string;
  /** The last comment offset the client holds; the server returns what came after. */
  sinceOffset?: number;
  epoch?: string;
}

export interface VideoSnapshotPayload {
  counters: Counters;
  version: number;
  /** Head of the video's event log. */
  offset: number;
  epoch: string;
  latestComments: Comment[];
  likedByMe: boolean;
}

export interface WatchReply {
  videoId: string;
  snapshot: VideoSnapshotPayload;
  /** With `sinceOffset`: the events after it, in order. */
  events?: LiveVideoEvent[];
  /** False when the log no longer reaches back (or the epoch changed): start from the snapshot. */
  recovered?: boolean;
}

export interface CounterPayload extends Counters {
  videoId: string;
  offset: number;
}

export type LiveVideoEvent =
  | { type: 'comment:added'; videoId: string; offset: number; prev: number; comment: Comment }
  | { type: 'comment:deleted'; videoId: string; offset: number; prev: number; commentId: string; version: number }
  | { type: 'counters'; videoId: string; offset: number; counters: Counters }
  | { type: 'comment:counters'; videoId: string; offset: number; commentId: string; likes: number }
  | { type: 'comment:pinned'; videoId: string; offset: number; commentId: string | null };

export type CommentAdded = Extract<LiveVideoEvent, { type: 'comment:added' }>;
export type CommentDeleted = Extract<LiveVideoEvent, { type: 'comment:deleted' }>;
/** A comment's like count; coalesced per comment like video counters (newer offset wins). */
export type CommentCounterPayload = Omit<Extract<LiveVideoEvent, { type: 'comment:counters' }>, 'type'>;
export type CommentPinnedPayload = Omit<Extract<LiveVideoEvent, { type: 'comment:pinned' }>, 'type'>;

// ------------------------------------------------------------ threads, comment likes, favorites

/** What a comment like or unlike is acknowledged with, over the socket and REST alike. */
export interface CommentLikeReply {
  changed: boolean;
  commentId: string;
  /** The comment's exact like count after the write. */
  likes: number;
  /** Head of the video's event log after the write. */
  offset: number;
}

export interface FavoriteReply {
  changed: boolean;
  videoId: string;
  /** The video's favorite count after the write. */
  favorites: number;
}

export interface ThreadsRequest {
  videoId: string;
  order?: 'newest' | 'top';
  cursor?: string;
  limit?: number;
}

export interface RepliesRequest {
  commentId: string;
  cursor?: string;
  limit?: number;
}

export interface JobProgressPayload {
  jobId: string;
  /** queued, probing, transcoding, tagging, ready, failed or cancelled. */
  stage: string;
  /** 0-100. */
  percent: number;
  videoId?: string;
  error?: { code: string; message: string };
}

/** What a like or an unlike is acknowledged with, over the socket and REST alike. */
export interface LikeReply {
  changed: boolean;
  counters: Counters;
  /** Head of the video's event log after the write. */
  offset: number;
}

export interface ClientToServerEvents {
  'video:watch': (req: WatchRequest, ack: AckFn<WatchReply>) => void;
  'video:unwatch': (req: { videoId: string }, ack: AckFn<{ videoId: string }>) => void;
  'video:like': (req: { videoId: string }, ack: AckFn<LikeReply>) => void;
  'video:unlike': (req: { videoId: string }, ack: AckFn<LikeReply>) => void;
  'comment:add': (
    req: { videoId: string; text: string; replyTo?: string; idempotencyKey: string },
    ack: AckFn<{ comment: Comment; duplicate: boolean; offset: number }>,
  ) => void;
  'comment:delete': (req: { commentId: string }, ack: AckFn<{ deleted: boolean }>) => void;
  'comment:like': (req: { commentId: string }, ack: AckFn<CommentLikeReply>) => void;
  'comment:unlike': (req: { commentId: string }, ack: AckFn<CommentLikeReply>) => void;
  /** The video's owner pins a top-level comment (`commentId` null: unpin). */
  'comment:pin': (req: { videoId: string; commentId: string | null }, ack: AckFn<{ changed: boolean; pinned: string | null; offset: number }>) => void;
  'comment:threads': (req: ThreadsRequest, ack: AckFn<Page<CommentView>>) => void;
  'comment:replies': (req: RepliesRequest, ack: AckFn<Page<CommentView>>) => void;
  'video:favorite': (req: { videoId: string }, ack: AckFn<FavoriteReply>) => void;
  'video:unfavorite': (req: { videoId: string }, ack: AckFn<FavoriteReply>) => void;
  'user:follow': (req: { userId: string }, ack: AckFn<{ changed: boolean }>) => void;
  'user:unfollow': (req: { userId: string }, ack: AckFn<{ changed: boolean }>) => void;
  /** Watch progress of a video (see protocol/interactions.ts); at most one per PROGRESS_INTERVAL per viewer and video. */
  'video:progress': (req: ProgressRequest, ack: AckFn<{ videoId: string }>) => void;
  /** A page of the For You feed: the signed-in user's, or anonymous `session`'s (an id the client keeps). */
  'feed:foryou': (req: ForYouRequest, ack: AckFn<Page<ForYouVideo>>) => void;
  // ---- direct messages (protocol/dm.ts)
  'dm:send': (req: SendRequest, ack: AckFn<SendReply>) => void;
  'dm:delete': (req: { conversationId: string; seq: number }, ack: AckFn<{ deleted: boolean }>) => void;
  'dm:receipt': (req: { conversationId: string; delivered?: number; read?: number }, ack: AckFn<{ delivered: number; read: number; unread: number }>) => void;
  'dm:typing': (req: { conversationId: string }, ack: AckFn<{ sent: boolean }>) => void;
  'dm:sync': (req: { since?: number; cursors?: SyncCursor[] }, ack: AckFn<SyncReply>) => void;
  'dm:mute': (req: { conversationId: string; muted: boolean }, ack: AckFn<{ muted: boolean }>) => void;
  'dm:leave': (req: { conversationId: string }, ack: AckFn<{ left: boolean }>) => void;
  // social depth: inbox and blocks
  /** Marks one inbox entry read, or all of them without `entryId`; acked with the unread count. */
  'inbox:read': (req: { entryId?: string }, ack: AckFn<{ unread: number }>) => void;
  'user:block': (req: { userId: string }, ack: AckFn<{ changed: boolean }>) => void;
  'user:unblock': (req: { userId: string }, ack: AckFn<{ changed: boolean }>) => void;
}

/**
 * `video:progress`: a watch report. `session` (16-64 of `A-Za-z0-9_-`) is an anonymous socket's
 * For You session: with it, the report teaches that session's feed (finishes, early skips);
 * ignored when signed in.
 */
export type ProgressRequest = ProgressReport & { session?: string };

export interface ForYouRequest {
  cursor?: string;
  /** 1 to 100, default 20. */
  limit?: number;
  /** Anonymous sockets: 16 to 64 letters, digits, `_` or `-`, kept by the client; ignored when signed in. */
  session?: string;
}

/** A client event's name. */
export type ClientEvent = keyof ClientToServerEvents;
/** The payload a client sends with event `E`. */
export type RequestOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
/** What a successful ack of event `E` carries besides `ok: true`. */
export type ReplyOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[1] extends AckFn<infer T extends object> ? T : never;

export interface ServerToClientEvents {
  /** Coalesced: at most one per interval per video, with the latest values. */
  'video:counters': (payload: CounterPayload) => void;
  /** Batched per tick; each carries its offset and the offset of the previous comment event. */
  'comment:added': (events: CommentAdded[]) => void;
  'comment:deleted': (events: CommentDeleted[]) => void;
  /** Coalesced: at most one per interval per comment, with the newest count. */
  'comment:counters': (payload: CommentCounterPayload) => void;
  'comment:pinned': (payload: CommentPinnedPayload) => void;
  'video:deleted': (payload: { videoId: string }) => void;
  'user:notification': (notification: Notification) => void;
  /** An inbox entry created or updated (after it is stored), to every socket of its user on any process. */
  notification: (entry: InboxEntry) => void;
  /** The user's unread inbox count, whenever it changes. */
  unread: (payload: { count: number }) => void;
  /** A moderator hid the video (watchers drop it) or one of its comments. */
  'video:hidden': (payload: { videoId: string }) => void;
  'comment:hidden': (payload: { videoId: string; commentId: string }) => void;
  'feed:new': (payload: { videoId: string; authorId: string }) => void;
  'job:progress': (payload: JobProgressPayload) => void;
  /** Sent just before the server disconnects a socket whose token expired. */
  'session:expired': (payload: { code: ErrorCode }) => void;
  /** Sent to every socket on graceful shutdown, before the disconnect: reconnect (elsewhere) after `retryAfterMs`. */
  'server:shutdown': (payload: { retryAfterMs: number }) => void;
  // ---- direct messages: each entry reaches each device exactly once, in seq order per conversation
  'dm:events': (payload: DmEventsPayload) => void;
  'dm:receipt': (payload: DmReceiptPayload) => void;
  'dm:typing': (payload: DmTypingPayload) => void;
  /** The log no longer reaches back to what this device holds of a conversation: call `dm:sync`. */
  'dm:resync': (payload: { conversationId: string }) => void;
}

/** Events between server processes (through the Redis adapter). */
export interface InterServerEvents {
  /** `traceparent` and `tracestate`: the W3C trace context of the write, so the delivery in each process joins its trace. */
  'video:events': (payload: { videoId: string; events: LiveVideoEvent[]; traceparent?: string; tracestate?: string }) => void;
  'dm:events': (payload: { conversationId: string; epoch: string; userIds: string[]; events: DmEvent[] }) => void;
}

export interface SocketData {
  userId?: string;
  /** Seconds since the epoch at which the socket's token expires. */
  tokenExp?: number;
  strikes: number;
  /** The client's address key (behind trusted proxies, the client's; IPv6 by /64): per-IP limits count under it. */
  address: string;
  /** Videos whose view this connection has counted (made on its first watch). */
  viewed?: Set<string>;
  /** The client's trace context from the handshake `auth.traceparent` (tracing on), parent of its events. */
  trace?: TraceContext;
}

/** Names of client events; anything else gets E_UNKNOWN_EVENT. */
export const CLIENT_EVENTS = [
  'video:watch',
  'video:unwatch',
  'video:like',
  'video:unlike',
  'comment:add',
  'comment:delete',
  'comment:like',
  'comment:unlike',
  'comment:pin',
  'comment:threads',
  'comment:replies',
  'video:favorite',
  'video:unfavorite',
  'user:follow',
  'user:unfollow',
  'feed:foryou',
  'dm:send',
  'dm:delete',
  'dm:receipt',
  'dm:typing',
  'dm:sync',
  'dm:mute',
  'dm:leave',
  'video:progress',
  'inbox:read',
  'user:block',
  'user:unblock',
] as const satisfies readonly (keyof ClientToServerEvents)[];

const VIDEO_ROOM = 'video:';
export const videoRoom = (videoId: string) => `${VIDEO_ROOM}${videoId}`;
export const isVideoRoom = (room: string) => room.startsWith(VIDEO_ROOM);
export const userRoom = (userId: string) => `user:${userId}`;
