/**
 * The live client SDK over socket.io-client. Every call returns a promise of the
 * server's ack; subscriptions deliver events in order and exactly once per video:
 *
 * - Each watched video remembers the offset of the last comment event applied. An
 *   event at or below it is a duplicate and dropped; an event whose `prev` is above it
 *   means one was missed, so the client fetches what it missed from the server's event
 *   log (or gets a fresh snapshot, `reset`, when the log no longer reaches back).
 * - Counters are kept by version: an older update is dropped.
 * - After a reconnect (network loss, server restart, token refresh) every watched
 *   video is re-watched from its last offset, so an app never misses or duplicates a
 *   comment across a reconnect.
 */
import { EventEmitter } from 'node:events';
import { io, type Socket } from 'socket.io-client';
import type { ErrorCode } from '../protocol/errors.ts';
import type {
  Ack,
  ClientToServerEvents,
  CommentAdded,
  CommentDeleted,
  CounterPayload,
  JobProgressPayload,
  LiveVideoEvent,
  ServerToClientEvents,
  VideoSnapshotPayload,
  WatchReply,
} from '../protocol/live.ts';
import type { Comment, Counters, Notification } from '../protocol/model.ts';
import { msgpackParser } from '../protocol/msgpack-parser.ts';

export class TremoloClientError extends Error {
  constructor(
    readonly code: ErrorCode | 'E_ACK_TIMEOUT' | 'E_DISCONNECTED',
    message: string,
  ) {
    super(message);
    this.name = 'TremoloClientError';
  }
}

export interface LiveClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  token?: string;
  /** Called for a fresh token when the current one expired; enables transparent re-auth. */
  refreshToken?: () => Promise<string>;
  parser?: 'json' | 'msgpack';
  ackTimeoutMs?: number;
  /** Extra socket.io-client options (transports, localAddress through an agent, ...). */
  socket?: Record<string, unknown>;
  /**
   * W3C trace context for the server's spans (Socket.IO carries no headers). A string is sent in
   * the handshake `auth` and parents every event of the connection; a function is asked at each
   * handshake and each event, and its answer travels in the event's payload too, so each call
   * can join the caller's current trace.
   */
  traceparent?: string | (() => string | undefined);
}

export interface LiveClientEvents {
  counters: [CounterPayload];
  comment: [Comment & { offset: number }];
  commentDeleted: [{ videoId: string; commentId: string; offset: number }];
  /** The log no longer reached back: start over from this snapshot. */
  reset: [{ videoId: string; snapshot: VideoSnapshotPayload }];
  notification: [Notification];
  feed: [{ videoId: string; authorId: string }];
  job: [JobProgressPayload];
  videoDeleted: [{ videoId: string }];
  reconnected: [];
  disconnected: [string];
}

interface Watched {
  commentOffset: number;
  epoch: string;
  version: number;
  /** Events that arrived while a watch/recovery was in flight. */
  buffer: LiveVideoEvent[] | undefined;
}

type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export class LiveClient extends EventEmitter<LiveClientEvents> {
  readonly socket: ClientSocket;
  private readonly watched = new Map<string, Watched>();
  private readonly ackTimeoutMs: number;
  private connectedOnce = false;
  /** Set by close(): a closed client is not brought back (by a shutdown notice's timer or a token refresh). */
  private closed = false;
  /** The reconnect a shutdown notice scheduled, if any. */
  private comeback: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: LiveClientOptions) {
    super();
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.socket = io(opts.url, {
      autoConnect: false,
      transports: ['websocket'],
      auth: (cb) => {
        const traceparent = typeof opts.traceparent === 'function' ? opts.traceparent() : opts.traceparent;
        cb({ ...(opts.token ? { token: opts.token } : {}), ...(traceparent ? { traceparent } : {}) });
      },
      reconnectionDelay: 200,
      reconnectionDelayMax: 2000,
      ...(opts.parser === 'msgpack' ? { parser: msgpackParser } : {}),
      ...opts.socket,
    }) as ClientSocket;

    this.socket.on('video:counters', (p) => this.onEvent({ type: 'counters', videoId: p.videoId, offset: p.offset, counters: countersOf(p) }));
    this.socket.on('comment:added', (events) => events.forEach((e) => this.onEvent(e)));
    this.socket.on('comment:deleted', (events) => events.forEach((e) => this.onEvent(e)));
    this.socket.on('video:deleted', (p) => {
      this.watched.delete(p.videoId);
      this.emit('videoDeleted', p);
    });
    this.socket.on('user:notification', (n) => this.emit('notification', n));
    this.socket.on('feed:new', (p) => this.emit('feed', p));
    this.socket.on('job:progress', (p) => this.emit('job', p));
    this.socket.on('session:expired', () => void this.reauthenticate());
    this.socket.on('server:shutdown', ({ retryAfterMs }) => {
      // the server is going away: come back (to whichever process answers) after the hint
      clearTimeout(this.comeback);
      this.comeback = setTimeout(() => {
        this.comeback = undefined;
        if (!this.closed) this.socket.connect();
      }, retryAfterMs);
      this.comeback.unref?.();
    });
    this.socket.on('connect', () => {
      if (this.connectedOnce) {
        for (const videoId of this.watched.keys()) void this.recover(videoId);
        this.emit('reconnected');
      }
      this.connectedOnce = true;
    });
    this.socket.on('disconnect', (reason) => this.emit('disconnected', reason));
    this.socket.on('connect_error', (err) => {
      const code = (err as Error & { data?: { code?: string } }).data?.code;
      if (code === 'E_TOKEN_EXPIRED') void this.reauthenticate();
    });
  }

  /** Connects; rejects with the server's code when the handshake is refused. */
  connect(): Promise<void> {
    this.closed = false;
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onConnect = () => {
        this.socket.off('connect_error', onError);
        resolve();
      };
      const onError = (err: Error & { data?: { code?: ErrorCode } }) => {
        this.socket.off('connect', onConnect);
        this.socket.disconnect();
        reject(new TremoloClientError(err.data?.code ?? 'E_DISCONNECTED', err.message));
      };
      this.socket.once('connect', onConnect);
      this.socket.once('connect_error', onError);
      this.socket.connect();
    });
  }

  /** Disconnects for good: nothing reconnects it until `connect()` is called again. */
  close(): void {
    this.closed = true;
    clearTimeout(this.comeback);
    this.socket.disconnect();
  }

  /** Watches a video: live counters and comments from now on, after the returned snapshot. */
  async watch(videoId: string): Promise<WatchReply> {
    const state: Watched = { commentOffset: 0, epoch: '', version: -1, buffer: [] };
    this.watched.set(videoId, state);
    try {
      const reply = await this.call('video:watch', { videoId });
      this.adopt(videoId, state, reply.snapshot);
      return reply;
    } catch (err) {
      this.watched.delete(videoId);
      throw err;
    }
  }

  async unwatch(videoId: string): Promise<void> {
    this.watched.delete(videoId);
    await this.call('video:unwatch', { videoId });
  }

  like(videoId: string) {
    return this.call('video:like', { videoId });
  }

  unlike(videoId: string) {
    return this.call('video:unlike', { videoId });
  }

  /** Adds a comment; retried sends with the same idempotencyKey are stored once. */
  comment(videoId: string, text: string, opts: { replyTo?: string; idempotencyKey?: string } = {}) {
    return this.call('comment:add', {
      videoId,
      text,
      idempotencyKey: opts.idempotencyKey ?? globalThis.crypto.randomUUID(),
      ...(opts.replyTo !== undefined ? { replyTo: opts.replyTo } : {}),
    });
  }

  deleteComment(commentId: string) {
    return this.call('comment:delete', { commentId });
  }

  follow(userId: string) {
    return this.call('user:follow', { userId });
  }

  unfollow(userId: string) {
    return this.call('user:unfollow', { userId });
  }

  /** The last comment offset applied for a watched video (for tests and diagnostics). */
  offsetOf(videoId: string): number | undefined {
    return this.watched.get(videoId)?.commentOffset;
  }

  /** Sends an event and resolves with its ack; a failed ack rejects with its code. */
  async call<E extends keyof ClientToServerEvents>(
    event: E,
    payload: Parameters<ClientToServerEvents[E]>[0],
  ): Promise<Extract<Parameters<Parameters<ClientToServerEvents[E]>[1]>[0], { ok: true }>> {
    let reply: Ack<object>;
    try {
      const emitter = this.socket.timeout(this.ackTimeoutMs) as unknown as {
        emitWithAck(e: string, p: unknown): Promise<Ack<object>>;
      };
      const traceparent = typeof this.opts.traceparent === 'function' ? this.opts.traceparent() : undefined;
      reply = await emitter.emitWithAck(event, traceparent ? { ...payload, traceparent } : payload);
    } catch {
      throw new TremoloClientError('E_ACK_TIMEOUT', `no ack for ${event} within ${this.ackTimeoutMs} ms`);
    }
    if (!reply.ok) throw new TremoloClientError(reply.code, reply.message);
    return reply as never;
  }

  // ------------------------------------------------------------ ordering and recovery

  private onEvent(e: LiveVideoEvent): void {
    const state = this.watched.get(e.videoId);
    if (!state) return;
    if (state.buffer) {
      state.buffer.push(e);
      return;
    }
    this.apply(e.videoId, state, e);
  }

  private apply(videoId: string, state: Watched, e: LiveVideoEvent): void {
    if (e.type === 'counters') {
      if (e.counters.version <= state.version) return;
      state.version = e.counters.version;
      this.emit('counters', { videoId, offset: e.offset, ...e.counters });
      return;
    }
    if (e.offset <= state.commentOffset) return; // already applied
    if (e.prev > state.commentOffset) {
      void this.recover(videoId); // one or more comment events were missed
      return;
    }
    state.commentOffset = e.offset;
    if (e.type === 'comment:added') this.emit('comment', { ...e.comment, offset: e.offset });
    else this.emit('commentDeleted', { videoId, commentId: e.commentId, offset: e.offset });
  }

  /** Fetches what was missed since the last applied comment, or starts over from a snapshot. */
  private async recover(videoId: string): Promise<void> {
    const state = this.watched.get(videoId);
    if (!state || state.buffer) return; // a recovery is already running
    state.buffer = [];
    try {
      const reply = await this.call('video:watch', { videoId, sinceOffset: state.commentOffset, epoch: state.epoch });
      if (this.watched.get(videoId) !== state) return;
      if (reply.recovered && reply.events) {
        const pending = state.buffer;
        state.buffer = undefined;
        for (const e of reply.events) this.apply(videoId, state, e);
        this.applyCounters(videoId, state, reply.snapshot);
        for (const e of pending) this.apply(videoId, state, e);
      } else {
        this.adopt(videoId, state, reply.snapshot);
        this.emit('reset', { videoId, snapshot: reply.snapshot });
      }
    } catch {
      // try again on the next event or reconnect
      const pending = state.buffer ?? [];
      state.buffer = undefined;
      for (const e of pending) this.apply(videoId, state, e);
    }
  }

  /** Starts from a snapshot, then replays events that arrived meanwhile. */
  private adopt(videoId: string, state: Watched, snapshot: VideoSnapshotPayload): void {
    state.commentOffset = snapshot.offset;
    state.epoch = snapshot.epoch;
    const pending = state.buffer ?? [];
    state.buffer = undefined;
    this.applyCounters(videoId, state, snapshot);
    for (const e of pending) this.apply(videoId, state, e);
  }

  private applyCounters(videoId: string, state: Watched, snapshot: VideoSnapshotPayload): void {
    if (snapshot.counters.version > state.version) {
      state.version = snapshot.counters.version;
      this.emit('counters', { videoId, offset: snapshot.offset, ...snapshot.counters });
    }
  }

  private async reauthenticate(): Promise<void> {
    if (!this.opts.refreshToken) return;
    try {
      this.opts.token = await this.opts.refreshToken();
      if (this.closed) return;
      this.socket.disconnect();
      this.socket.connect();
    } catch {
      this.emit('disconnected', 'token refresh failed');
    }
  }
}

function countersOf(p: CounterPayload): Counters {
  return { likes: p.likes, comments: p.comments, views: p.views, version: p.version };
}

export type { CommentAdded, CommentDeleted };
