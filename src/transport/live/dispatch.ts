/**
 * Client events to engine calls. Each event has one handler, typed from the protocol's
 * `ClientToServerEvents` (its payload, checked by `ClientRequests`, and its ack), run behind
 * the per-socket and per-user rate limits and acknowledged only once the write is durable.
 * The table is shared by every socket, reached through one shared `onAny` listener called
 * with the socket as `this`, so a connection costs no closures of its own: at 10,000 sockets,
 * per-socket listener closures were about a third of the gateway's memory per socket.
 */
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Engine } from '../../actors/engine.ts';
import type { Clock } from '../../domain/clock.ts';
import { TremoloError, failedAck } from '../../protocol/errors.ts';
import type { Ack, ClientEvent, ReplyOf, RequestOf } from '../../protocol/live.ts';
import type { Video } from '../../protocol/model.ts';
import { anonymousViewerKey } from '../client-address.ts';
import { consume } from '../http/rate-limits.ts';
import { noopTracing, type SpanHandle, type Tracing } from '../../telemetry/tracing.ts';
import { commentLikeReply, likeReply } from '../replies.ts';
import type { ClientRequests } from './client-requests.ts';
import type { DmLanes } from './dm-lanes.ts';
import type { SyncCursor, SyncReply } from '../../protocol/dm.ts';
import type { IoSocket } from './io.ts';
import type { Watches } from './watches.ts';

/** A page request over the socket without a limit gets this many items (as REST's default). */
const DEFAULT_PAGE = 20;
/** SOCKET_MAX_INFLIGHT's default. */
const DEFAULT_MAX_INFLIGHT = 10_000;

export interface DispatchDeps {
  engine: Pick<
    Engine,
    | 'like'
    | 'unlike'
    | 'addComment'
    | 'deleteComment'
    | 'follow'
    | 'unfollow'
    | 'likeComment'
    | 'unlikeComment'
    | 'pinComment'
    | 'commentThreads'
    | 'commentReplies'
    | 'favorite'
    | 'unfavorite'
    | 'forYouFeed'
    | 'dm'
    | 'interactions'
    | 'block'
    | 'unblock'
    | 'social'
  >;
  /** Stored media paths -> signed URLs, for the videos a feed page carries. Default: as stored. */
  presentVideo?: (video: Video) => Video;
  /** Direct messages' per-socket delivery state (dm:sync hands it its reply). The gateway always gives one. */
  dmLanes?: DmLanes;
  watches: Watches;
  requests: ClientRequests;
  /** Events per socket. */
  socketLimiter: RateLimiterAbstract;
  /** Events per signed-in user, over all of the user's sockets. */
  userLimiter: RateLimiterAbstract;
  clock: Clock;
  /** Strikes (malformed or refused events) before a socket is disconnected. Default 50. */
  maxStrikes?: number;
  /**
   * Events worked on at once over all sockets; one more is refused with E_BUSY before any work
   * (no rate-limit call, no storage). Default 10,000. Without it an overloaded process takes
   * every event, they all queue, and each is answered after the client stopped waiting.
   */
  maxInflight?: number;
  log: { error: (obj: object, msg: string) => void };
  /** A span per event, named after it (`video:like`), its parent the event's or the handshake's `traceparent`. Default: off. */
  tracing?: Tracing;
}

/** What a handler gets besides the payload. */
interface EventContext {
  socket: IoSocket;
  /** Registers packets that must reach the client right after the ack, in this order. */
  afterAck(then: () => void): void;
}

/** One client event's handler: for signed-in users only, or for anonymous sockets too. */
type Handler<E extends ClientEvent> =
  | { signedIn: true; run(req: RequestOf<E>, userId: string, ctx: EventContext): Promise<ReplyOf<E>> }
  | { signedIn: false; run(req: RequestOf<E>, userId: string | undefined, ctx: EventContext): Promise<ReplyOf<E>> };

type HandlerTable = { [E in ClientEvent]: Handler<E> };

export class LiveDispatch {
  private closing = false;
  private inflight = 0;
  /** Called when the last event in flight is answered during `drain`. */
  private drained: (() => void) | undefined;

  private readonly tracing: Tracing;

  constructor(private readonly deps: DispatchDeps) {
    this.tracing = deps.tracing ?? noopTracing;
  }

  /** Every client event: whether it needs a signed-in user, and what it does. */
  private readonly handlers: HandlerTable = {
    'video:watch': { signedIn: false, run: (req, userId, ctx) => this.deps.watches.watch(ctx.socket, req, userId, ctx.afterAck) },
    'video:unwatch': { signedIn: false, run: (req, _userId, ctx) => this.deps.watches.unwatch(ctx.socket, req) },
    'video:like': { signedIn: true, run: async (req, userId) => likeReply(await this.deps.engine.like(req.videoId, userId)) },
    'video:unlike': { signedIn: true, run: async (req, userId) => likeReply(await this.deps.engine.unlike(req.videoId, userId)) },
    'comment:add': {
      signedIn: true,
      run: async ({ videoId, text, replyTo, idempotencyKey }, userId) => {
        const r = await this.deps.engine.addComment(videoId, userId, { text, replyTo, idempotencyKey });
        return { comment: r.comment, duplicate: r.duplicate, offset: r.log.offset };
      },
    },
    'comment:delete': {
      signedIn: true,
      run: async (req, userId) => ({ deleted: (await this.deps.engine.deleteComment(req.commentId, userId)).deleted }),
    },
    'comment:like': { signedIn: true, run: async (req, userId) => commentLikeReply(await this.deps.engine.likeComment(req.commentId, userId)) },
    'comment:unlike': { signedIn: true, run: async (req, userId) => commentLikeReply(await this.deps.engine.unlikeComment(req.commentId, userId)) },
    'comment:pin': {
      signedIn: true,
      run: async (req, userId) => {
        const r = await this.deps.engine.pinComment(req.videoId, req.commentId ?? null, userId);
        return { changed: r.changed, pinned: r.pinned, offset: r.log.offset };
      },
    },
    'comment:threads': {
      signedIn: false,
      run: (req, userId) =>
        this.deps.engine.commentThreads(req.videoId, req.order ?? 'newest', { cursor: req.cursor ?? undefined, limit: req.limit ?? DEFAULT_PAGE }, userId),
    },
    'comment:replies': {
      signedIn: false,
      run: (req, userId) => this.deps.engine.commentReplies(req.commentId, { cursor: req.cursor ?? undefined, limit: req.limit ?? DEFAULT_PAGE }, userId),
    },
    'video:favorite': { signedIn: true, run: (req, userId) => this.deps.engine.favorite(req.videoId, userId) },
    'video:unfavorite': { signedIn: true, run: (req, userId) => this.deps.engine.unfavorite(req.videoId, userId) },
    'user:follow': { signedIn: true, run: (req, userId) => this.deps.engine.follow(userId, req.userId) },
    'user:unfollow': { signedIn: true, run: (req, userId) => this.deps.engine.unfollow(userId, req.userId) },
    'feed:foryou': {
      signedIn: false,
      run: async ({ cursor, limit, session }, userId) => {
        if (userId === undefined && (session === undefined || session === null)) {
          throw new TremoloError('E_VALIDATION', 'Sign in, or pass session (an id the client keeps) for an anonymous For You feed', { details: { field: 'session' } });
        }
        const viewer = userId !== undefined ? { userId } : { sessionId: session! };
        const page = await this.deps.engine.forYouFeed(viewer, { limit: limit ?? 20, ...(cursor ? { cursor } : {}) });
        const items = page.items.map((video, i) => ({ ...(this.deps.presentVideo?.(video) ?? video), reason: page.reasons[i]! }));
        return { items, ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}) };
      },
    },
    // ---- direct messages
    'dm:send': { signedIn: true, run: (req, userId) => this.deps.engine.dm.send(userId, req) },
    'dm:delete': { signedIn: true, run: (req, userId) => this.deps.engine.dm.deleteMessage(userId, req.conversationId, req.seq) },
    'dm:receipt': {
      signedIn: true,
      run: async ({ conversationId, delivered, read }, userId) => {
        const m = await this.deps.engine.dm.receipt(userId, conversationId, { ...(delivered !== undefined ? { delivered } : {}), ...(read !== undefined ? { read } : {}) });
        return { delivered: m.delivered, read: m.read, unread: m.unread };
      },
    },
    'dm:typing': { signedIn: true, run: (req, userId) => this.deps.engine.dm.typing(userId, req.conversationId) },
    'dm:sync': { signedIn: true, run: (req, userId, ctx) => this.dmSync(req, userId, ctx) },
    'dm:mute': { signedIn: true, run: async (req, userId) => ({ muted: (await this.deps.engine.dm.mute(userId, req.conversationId, req.muted)).muted }) },
    'dm:leave': { signedIn: true, run: (req, userId) => this.deps.engine.dm.leave(userId, req.conversationId) },
    'video:progress': {
      signedIn: false,
      run: async ({ videoId, watchedMs, positionMs, durationMs, completed, session }, userId, ctx) => {
        // an anonymous socket reports as its For You session when it names one (so the session's
        // feed learns from it), else as the anonymous viewer its views are counted as
        const reporter =
          userId !== undefined ? { userId } : { sessionId: typeof session === 'string' ? session : anonymousViewerKey(ctx.socket.data.address) };
        // only the known fields go on: the socket ignores unknown ones, the engine would refuse them
        await this.deps.engine.interactions.progress(reporter, { videoId, watchedMs, positionMs, durationMs, completed });
        return { videoId };
      },
    },
    'inbox:read': { signedIn: true, run: (req, userId) => this.deps.engine.social.markRead(userId, req.entryId ?? undefined) },
    'user:block': { signedIn: true, run: (req, userId) => this.deps.engine.block(userId, req.userId) },
    'user:unblock': { signedIn: true, run: (req, userId) => this.deps.engine.unblock(userId, req.userId) },
  };

  /**
   * A device catching up. While the reply is made, entries for this socket wait in its lanes;
   * each conversation is read from after what the socket holds (the client's seq, or further
   * when this socket was already sent more), so nothing reaches it twice. Entries past the
   * reply's page follow right after the ack as `dm:events`.
   */
  private async dmSync(req: { since?: number; cursors?: SyncCursor[] }, userId: string, ctx: EventContext): Promise<SyncReply> {
    const lanes = this.deps.dmLanes;
    if (!lanes) return this.deps.engine.dm.sync(userId, req.since ?? 0, req.cursors ?? []);
    const { reply, done } = await lanes.sync(ctx.socket.id, req.cursors ?? [], (cursors) => this.deps.engine.dm.sync(userId, req.since ?? 0, cursors));
    ctx.afterAck(done);
    return reply;
  }

  /** Shared by every socket (`this` is the socket): routes a client event to its handler. */
  readonly onEvent = ((dispatch: LiveDispatch) =>
    function (this: IoSocket, event: string, ...args: unknown[]): void {
      if (Object.hasOwn(dispatch.handlers, event)) {
        void dispatch.run(this, event as ClientEvent, args[0], args[1]);
        return;
      }
      const ack = args.at(-1);
      if (typeof ack === 'function') ack(failedAck(new TremoloError('E_UNKNOWN_EVENT', `No event ${JSON.stringify(event).slice(0, 64)}`)));
      dispatch.strike(this);
    })(this);

  /**
   * Refuses new events (E_SHUTTING_DOWN) and waits for those in flight to be answered, at
   * most `timeoutMs` on the clock.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.inflight === 0) return;
    const { clock } = this.deps;
    await new Promise<void>((resolve) => {
      const timer = clock.setTimeout(() => this.settle(), timeoutMs);
      this.drained = () => {
        clock.clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Runs one client event: rate limits, a user for writes, the payload check, and an ack
   * that carries either the result (sent after the write is durable) or a catalog error.
   */
  private async run<E extends ClientEvent>(socket: IoSocket, event: E, req: unknown, ack: unknown): Promise<void> {
    const reply =
      typeof ack === 'function'
        ? (ack as (r: Ack<ReplyOf<E>>) => void)
        : () => {
            /* no ack callback: the client does not want an answer */
          };
    this.inflight++;
    const span = this.tracing.enabled ? this.eventSpan(socket, event, req) : undefined;
    try {
      if (this.closing) throw new TremoloError('E_SHUTTING_DOWN');
      if (this.inflight > (this.deps.maxInflight ?? DEFAULT_MAX_INFLIGHT)) throw new TremoloError('E_BUSY', undefined, { retryAfter: 1 });
      await consume(this.deps.socketLimiter, socket.id);
      const userId = socket.data.userId;
      if (userId !== undefined) await consume(this.deps.userLimiter, userId);
      const handler: Handler<E> = this.handlers[event];
      if (handler.signedIn && userId === undefined) throw new TremoloError('E_TOKEN_MISSING', 'Sign in to do this');
      const request = this.deps.requests.read(event, req);
      let then: (() => void) | undefined;
      const ctx: EventContext = { socket, afterAck: (fn) => (then = fn) };
      const call = () => (handler.signedIn ? handler.run(request, userId!, ctx) : handler.run(request, userId, ctx));
      const result = await (span ? this.tracing.run(span.context, call) : call());
      reply({ ok: true, ...result });
      span?.set({ 'tremolo.ack.code': 'ok' });
      then?.();
    } catch (err) {
      const e = err instanceof TremoloError ? err : new TremoloError('E_INTERNAL', undefined, { cause: err });
      if (e.code === 'E_INTERNAL') this.deps.log.error({ err, event }, 'socket event failed');
      if (e.code === 'E_VALIDATION' || e.code === 'E_RATE_LIMITED') this.strike(socket);
      span?.set({ 'tremolo.ack.code': e.code });
      if (e.status >= 500) span?.fail(e);
      reply(failedAck(e));
    } finally {
      span?.end();
      if (--this.inflight === 0) this.settle();
    }
  }

  /**
   * The span of one client event: its parent is the `traceparent` (and `tracestate`) in the payload if any, else
   * the one the socket gave at its handshake, else it starts a trace. The video id is recorded
   * when the payload names one (a string, as the id schema checks later); never any text.
   */
  private eventSpan(socket: IoSocket, event: ClientEvent, req: unknown): SpanHandle {
    const payload = typeof req === 'object' && req !== null ? (req as Record<string, unknown>) : undefined;
    const parent = this.tracing.extract(payload?.traceparent, payload?.tracestate) ?? socket.data.trace ?? 'root';
    const videoId = typeof payload?.videoId === 'string' && payload.videoId.length <= 32 ? payload.videoId : undefined;
    return this.tracing.start(event, {
      kind: 'server',
      parent,
      attributes: { 'rpc.system': 'socket.io', 'socketio.event': event, 'tremolo.video.id': videoId, 'enduser.id': socket.data.userId },
    });
  }

  /** Ends a `drain` under way. */
  private settle(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }

  /** A socket that keeps misbehaving is disconnected; one bad event only gets an error ack. */
  private strike(socket: IoSocket): void {
    socket.data.strikes++;
    if (socket.data.strikes > (this.deps.maxStrikes ?? 50)) socket.disconnect(true);
  }
}
