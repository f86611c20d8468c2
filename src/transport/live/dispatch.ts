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
import { consume } from '../http/rate-limits.ts';
import { noopTracing, type SpanHandle, type Tracing } from '../../telemetry/tracing.ts';
import { likeReply } from '../replies.ts';
import type { ClientRequests } from './client-requests.ts';
import type { IoSocket } from './io.ts';
import type { Watches } from './watches.ts';

export interface DispatchDeps {
  engine: Pick<Engine, 'like' | 'unlike' | 'addComment' | 'deleteComment' | 'follow' | 'unfollow'>;
  watches: Watches;
  requests: ClientRequests;
  /** Events per socket. */
  socketLimiter: RateLimiterAbstract;
  /** Events per signed-in user, over all of the user's sockets. */
  userLimiter: RateLimiterAbstract;
  clock: Clock;
  /** Strikes (malformed or refused events) before a socket is disconnected. Default 50. */
  maxStrikes?: number;
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
    'user:follow': { signedIn: true, run: (req, userId) => this.deps.engine.follow(userId, req.userId) },
    'user:unfollow': { signedIn: true, run: (req, userId) => this.deps.engine.unfollow(userId, req.userId) },
  };

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
   * The span of one client event: its parent is the `traceparent` in the payload if any, else
   * the one the socket gave at its handshake, else it starts a trace. The video id is recorded
   * when the payload names one (a string, as the id schema checks later); never any text.
   */
  private eventSpan(socket: IoSocket, event: ClientEvent, req: unknown): SpanHandle {
    const payload = typeof req === 'object' && req !== null ? (req as Record<string, unknown>) : undefined;
    const parent = this.tracing.extract(payload?.traceparent) ?? socket.data.trace ?? 'root';
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
