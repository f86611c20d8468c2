/**
 * The Socket.IO contract: every event and its payload, typed once and shared by the
 * server gateway, the client SDK and the tests (a typo is a compile error). docs/protocol.md
 * specifies the same shapes for clients in other languages; test/unit/docs.test.ts checks it
 * names every event here. Optional fields are absent, never null.
 */
import type { ErrorCode, FailedAck } from './errors.ts';
import type { Comment, Counters, Notification } from './model.ts';
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
  | { type: 'counters'; videoId: string; offset: number; counters: Counters };

export type CommentAdded = Extract<LiveVideoEvent, { type: 'comment:added' }>;
export type CommentDeleted = Extract<LiveVideoEvent, { type: 'comment:deleted' }>;

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
  'user:follow': (req: { userId: string }, ack: AckFn<{ changed: boolean }>) => void;
  'user:unfollow': (req: { userId: string }, ack: AckFn<{ changed: boolean }>) => void;
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
  'video:deleted': (payload: { videoId: string }) => void;
  'user:notification': (notification: Notification) => void;
  'feed:new': (payload: { videoId: string; authorId: string }) => void;
  'job:progress': (payload: JobProgressPayload) => void;
  /** Sent just before the server disconnects a socket whose token expired. */
  'session:expired': (payload: { code: ErrorCode }) => void;
  /** Sent to every socket on graceful shutdown, before the disconnect: reconnect (elsewhere) after `retryAfterMs`. */
  'server:shutdown': (payload: { retryAfterMs: number }) => void;
}

/** Events between server processes (through the Redis adapter). */
export interface InterServerEvents {
  /** `traceparent`: the W3C trace context of the write, so the delivery in each process joins its trace. */
  'video:events': (payload: { videoId: string; events: LiveVideoEvent[]; traceparent?: string }) => void;
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
  'user:follow',
  'user:unfollow',
] as const satisfies readonly (keyof ClientToServerEvents)[];

const VIDEO_ROOM = 'video:';
export const videoRoom = (videoId: string) => `${VIDEO_ROOM}${videoId}`;
export const isVideoRoom = (room: string) => room.startsWith(VIDEO_ROOM);
export const userRoom = (userId: string) => `user:${userId}`;
