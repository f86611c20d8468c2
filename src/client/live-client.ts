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
  CommentCounterPayload,
  CommentDeleted,
  CommentLikeReply,
  CommentPinnedPayload,
  FavoriteReply,
  CounterPayload,
  JobProgressPayload,
  LiveVideoEvent,
  ProgressRequest,
  ServerToClientEvents,
  VideoSnapshotPayload,
  WatchReply,
} from '../protocol/live.ts';
import type { Comment, Counters, Notification } from '../protocol/model.ts';
import type { ConversationView, DmEvent, DmReceiptPayload, DmTypingPayload, SendRequest, SyncReply } from '../protocol/dm.ts';
import type { InboxEntry } from '../protocol/social.ts';
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
  /**
   * Other processes of the same deployment, for clients that see them directly rather than
   * through a load balancer: after a shutdown notice, or a failed reconnect attempt, the next
   * connection goes to the next URL of `[url, ...alternates]`, so a process going away for a
   * rolling restart does not keep its clients waiting for it.
   */
  alternates?: string[];
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
  /** W3C `tracestate` sent with `traceparent` (vendors' entries), the same way: a string, or asked each time. */
  tracestate?: string | (() => string | undefined);
}

export interface LiveClientEvents {
  counters: [CounterPayload];
  comment: [Comment & { offset: number }];
  commentDeleted: [{ videoId: string; commentId: string; offset: number }];
  /** A comment's like count (coalesced by the server; never older than one already given). */
  commentCounters: [CommentCounterPayload];
  /** The video's pinned comment changed (`commentId` null: unpinned). */
  commentPinned: [CommentPinnedPayload];
  /** The log no longer reached back: start over from this snapshot. */
  reset: [{ videoId: string; snapshot: VideoSnapshotPayload }];
  notification: [Notification];
  /** An inbox entry created or updated (stored), on every socket of the user. */
  inbox: [InboxEntry];
  /** The unread inbox count changed. */
  unread: [number];
  /** A moderator hid a watched video, or one of its comments. */
  videoHidden: [{ videoId: string }];
  commentHidden: [{ videoId: string; commentId: string }];
  feed: [{ videoId: string; authorId: string }];
  job: [JobProgressPayload];
  videoDeleted: [{ videoId: string }];
  reconnected: [];
  disconnected: [string];
  /** Direct messages: new log entries of a conversation, in seq order, each once. */
  dm: [{ conversationId: string; events: DmEvent[] }];
  /** `dm:sync` found the log no longer reaching back: replace what you hold of it with this. */
  dmReset: [{ conversation: ConversationView; events: DmEvent[] }];
  dmReceipt: [DmReceiptPayload];
  dmTyping: [DmTypingPayload];
}

interface Watched {
  commentOffset: number;
  epoch: string;
  version: number;
  /** Offset of the newest like count given per comment (bounded: the oldest entries go first). */
  commentCounts: Map<string, number>;
  /** Offset of the newest pin change given. */
  pinOffset: number;
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
  /** `[url, ...alternates]`, and the index of the one the next connection goes to. */
  private readonly urls: string[];
  private urlIndex = 0;
  /** A shutdown notice pointed the next connection at the next URL; no connection since. */
  private movedOn = false;
  /** Recoveries that failed while connected, waiting to be tried again (by video id). */
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly opts: LiveClientOptions) {
    super();
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.urls = [opts.url, ...(opts.alternates ?? []).filter((u) => u !== opts.url)];
    this.socket = io(opts.url, {
      autoConnect: false,
      transports: ['websocket'],
      auth: (cb) => {
        const traceparent = typeof opts.traceparent === 'function' ? opts.traceparent() : opts.traceparent;
        const tracestate = traceparent && (typeof opts.tracestate === 'function' ? opts.tracestate() : opts.tracestate);
        cb({ ...(opts.token ? { token: opts.token } : {}), ...(traceparent ? { traceparent } : {}), ...(tracestate ? { tracestate } : {}) });
      },
      reconnectionDelay: 200,
      reconnectionDelayMax: 2000,
      ...(opts.parser === 'msgpack' ? { parser: msgpackParser } : {}),
      ...opts.socket,
    }) as ClientSocket;

    this.socket.on('video:counters', (p) => this.onEvent({ type: 'counters', videoId: p.videoId, offset: p.offset, counters: countersOf(p) }));
    this.socket.on('comment:added', (events) => events.forEach((e) => this.onEvent(e)));
    this.socket.on('comment:deleted', (events) => events.forEach((e) => this.onEvent(e)));
    this.socket.on('comment:counters', (p) => this.onEvent({ type: 'comment:counters', ...p }));
    this.socket.on('comment:pinned', (p) => this.onEvent({ type: 'comment:pinned', ...p }));
    this.socket.on('video:deleted', (p) => {
      this.watched.delete(p.videoId);
      this.emit('videoDeleted', p);
    });
    this.socket.on('user:notification', (n) => this.emit('notification', n));
    this.socket.on('feed:new', (p) => this.emit('feed', p));
    this.socket.on('notification', (entry) => this.emit('inbox', entry));
    this.socket.on('unread', ({ count }) => this.emit('unread', count));
    this.socket.on('video:hidden', (p) => this.emit('videoHidden', p));
    this.socket.on('comment:hidden', (p) => this.emit('commentHidden', p));
    this.socket.on('job:progress', (p) => this.emit('job', p));
    this.socket.on('session:expired', () => void this.reauthenticate());
    // ---- direct messages
    this.socket.on('dm:events', ({ conversationId, epoch, events }) => this.takeDm(conversationId, epoch, events));
    this.socket.on('dm:receipt', (p) => this.emit('dmReceipt', p));
    this.socket.on('dm:typing', (p) => this.emit('dmTyping', p));
    this.socket.on('dm:resync', () => void this.syncMessages().catch(() => undefined));
    this.socket.on('server:shutdown', ({ retryAfterMs }) => {
      // the server is going away: come back (to whichever process answers) after the hint
      this.nextUrl();
      this.movedOn = true;
      clearTimeout(this.comeback);
      this.comeback = setTimeout(() => {
        this.comeback = undefined;
        // When the server closed the connection under the socket ("transport close", as it does
        // on shutdown), socket.io-client reconnects by itself and the socket stays `active`: a
        // connect() now would send a second CONNECT on that connection and leave the server a
        // second socket of ours. Only a socket the server disconnected outright needs it.
        if (!this.closed && !this.socket.connected && !this.socket.active) this.socket.connect();
      }, retryAfterMs);
      this.comeback.unref?.();
    });
    this.socket.on('connect', () => {
      this.movedOn = false;
      if (this.connectedOnce) {
        for (const videoId of this.watched.keys()) void this.recover(videoId);
        // what came while away: only if this client synced before (it asked for messages)
        if (this.dmSynced) void this.syncMessages().catch(() => undefined);
        this.emit('reconnected');
      }
      this.connectedOnce = true;
    });
    this.socket.on('disconnect', (reason) => this.emit('disconnected', reason));
    // the process we were on does not answer (restarting, gone): try the next one, unless its
    // shutdown notice already moved us on (a second move could lead straight back to it)
    this.socket.io.on('reconnect_attempt', () => {
      if (this.movedOn) this.movedOn = false;
      else this.nextUrl();
    });
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
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    this.socket.disconnect();
  }

  /** Watches a video: live counters and comments from now on, after the returned snapshot. */
  async watch(videoId: string): Promise<WatchReply> {
    const state: Watched = { commentOffset: 0, epoch: '', version: -1, commentCounts: new Map(), pinOffset: 0, buffer: [] };
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

  /** Likes a comment (idempotent: `changed` says whether it was new); the ack carries the exact count. */
  likeComment(commentId: string): Promise<CommentLikeReply> {
    return this.call('comment:like', { commentId });
  }

  unlikeComment(commentId: string): Promise<CommentLikeReply> {
    return this.call('comment:unlike', { commentId });
  }

  /** Pins a top-level comment of your video, or unpins with null. */
  pinComment(videoId: string, commentId: string | null) {
    return this.call('comment:pin', { videoId, commentId });
  }

  /** Top-level comments with likes, reply counts and likedByMe; the pinned one leads the first page. */
  threads(videoId: string, opts: { order?: 'newest' | 'top'; cursor?: string; limit?: number } = {}) {
    return this.call('comment:threads', { videoId, ...opts });
  }

  /** A thread's replies, oldest first ("view N replies"). */
  replies(commentId: string, opts: { cursor?: string; limit?: number } = {}) {
    return this.call('comment:replies', { commentId, ...opts });
  }

  favorite(videoId: string): Promise<FavoriteReply> {
    return this.call('video:favorite', { videoId });
  }

  unfavorite(videoId: string): Promise<FavoriteReply> {
    return this.call('video:unfavorite', { videoId });
  }

  follow(userId: string) {
    return this.call('user:follow', { userId });
  }

  /**
   * Reports watch progress of a video (at most once per PROGRESS_INTERVAL per video). An
   * anonymous socket passes `session`, its For You session id, so that feed learns from it.
   */
  progress(report: ProgressRequest) {
    return this.call('video:progress', report);
  }

  unfollow(userId: string) {
    return this.call('user:unfollow', { userId });
  }

  /** A page of the For You feed (anonymous sockets pass `session`, an id the client keeps). */
  forYou(req: { cursor?: string; limit?: number; session?: string } = {}) {
    return this.call('feed:foryou', req);
  }

  // ------------------------------------------------------------ direct messages

  /** Sends a direct message; a retried send with the same idempotencyKey is stored once. */
  sendMessage(req: Omit<SendRequest, 'idempotencyKey'> & { idempotencyKey?: string }) {
    return this.call('dm:send', { ...req, idempotencyKey: req.idempotencyKey ?? globalThis.crypto.randomUUID() });
  }

  deleteMessage(conversationId: string, seq: number) {
    return this.call('dm:delete', { conversationId, seq });
  }

  markRead(conversationId: string, seq: number) {
    return this.call('dm:receipt', { conversationId, read: seq });
  }

  markDelivered(conversationId: string, seq: number) {
    return this.call('dm:receipt', { conversationId, delivered: seq });
  }

  typing(conversationId: string) {
    return this.call('dm:typing', { conversationId });
  }

  mute(conversationId: string, muted: boolean) {
    return this.call('dm:mute', { conversationId, muted });
  }

  leave(conversationId: string) {
    return this.call('dm:leave', { conversationId });
  }

  /**
   * Catches up on every conversation changed since the last sync, from what this client holds
   * of each; done again by itself after every reconnect once called. New entries come as `dm`
   * events (the rest of a long catch-up follows them the same way); a conversation the log no
   * longer reaches comes as `dmReset`.
   */
  async syncMessages(): Promise<SyncReply> {
    this.dmSynced = true;
    const cursors = [...this.dmHeld].map(([conversationId, h]) => ({ conversationId, seq: h.seq, epoch: h.epoch }));
    for (;;) {
      const reply = await this.call('dm:sync', { since: this.dmSyncPoint, cursors });
      for (const c of reply.conversations) {
        if (c.recovered) this.takeDm(c.conversation.id, c.conversation.epoch, c.events);
        else {
          this.dmHeld.set(c.conversation.id, { seq: c.events.at(-1)?.seq ?? c.conversation.head, epoch: c.conversation.epoch });
          this.emit('dmReset', { conversation: c.conversation, events: c.events });
        }
      }
      this.dmSyncPoint = Math.max(this.dmSyncPoint, reply.syncPoint);
      if (!reply.more) return reply;
    }
  }

  /** The last seq held of a conversation (tests, diagnostics). */
  seqOf(conversationId: string): number | undefined {
    return this.dmHeld.get(conversationId)?.seq;
  }

  private dmSynced = false;
  private dmSyncPoint = 0;
  private readonly dmHeld = new Map<string, { seq: number; epoch: string }>();

  private takeDm(conversationId: string, epoch: string, events: DmEvent[]): void {
    const held = this.dmHeld.get(conversationId);
    const after = held && held.epoch === epoch ? held.seq : 0;
    const fresh = events.filter((e) => e.seq > after);
    if (fresh.length === 0) return;
    this.dmHeld.set(conversationId, { seq: fresh.at(-1)!.seq, epoch });
    this.emit('dm', { conversationId, events: fresh });
  }

  block(userId: string) {
    return this.call('user:block', { userId });
  }

  unblock(userId: string) {
    return this.call('user:unblock', { userId });
  }

  /** Marks one inbox entry read, or all of them; resolves with the unread count. */
  markNotificationsRead(entryId?: string) {
    return this.call('inbox:read', entryId === undefined ? {} : { entryId });
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
      const tracestate = traceparent && typeof this.opts.tracestate === 'function' ? this.opts.tracestate() : undefined;
      reply = await emitter.emitWithAck(event, traceparent ? { ...payload, traceparent, ...(tracestate ? { tracestate } : {}) } : payload);
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
    if (e.type === 'comment:counters') {
      if (e.offset <= (state.commentCounts.get(e.commentId) ?? 0)) return;
      state.commentCounts.delete(e.commentId);
      state.commentCounts.set(e.commentId, e.offset);
      if (state.commentCounts.size > MAX_COMMENT_COUNTS) state.commentCounts.delete(state.commentCounts.keys().next().value!);
      this.emit('commentCounters', { videoId, offset: e.offset, commentId: e.commentId, likes: e.likes });
      return;
    }
    if (e.type === 'comment:pinned') {
      if (e.offset <= state.pinOffset) return;
      state.pinOffset = e.offset;
      this.emit('commentPinned', { videoId, offset: e.offset, commentId: e.commentId });
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
      const pending = state.buffer ?? [];
      state.buffer = undefined;
      for (const e of pending) this.apply(videoId, state, e);
      // A failed re-watch (a busy or draining process) leaves the socket outside the video's
      // room, where no next event would come to start another recovery: try again shortly.
      // A reconnect starts one of its own, so this is only needed while connected.
      if (!this.closed && this.socket.connected && this.watched.get(videoId) === state && !this.retries.has(videoId)) {
        const timer = setTimeout(() => {
          this.retries.delete(videoId);
          if (this.socket.connected) void this.recover(videoId);
        }, RECOVERY_RETRY_MS);
        timer.unref?.();
        this.retries.set(videoId, timer);
      }
    }
  }

  /**
   * Points the next connection at the next URL. socket.io-client fixes the URL of its Manager
   * at construction, but reads it afresh at each (re)connection, so replacing it is enough.
   */
  private nextUrl(): void {
    if (this.urls.length < 2) return;
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    (this.socket.io as unknown as { uri: string }).uri = this.urls[this.urlIndex]!;
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

/** Pause before a failed re-watch of a video is tried again on the same connection. */
const RECOVERY_RETRY_MS = 500;

/** Comments per watched video whose last like count the client remembers (to drop older ones). */
const MAX_COMMENT_COUNTS = 1000;

function countersOf(p: CounterPayload): Counters {
  return { likes: p.likes, comments: p.comments, views: p.views, version: p.version };
}

export type { CommentAdded, CommentDeleted };
