/**
 * The Socket.IO gateway: authenticates sockets, turns client events into engine calls
 * (acknowledged only once durable), and delivers engine events to rooms.
 *
 * Delivery across processes: a process that commits a change hands its video events to
 * every other process (`serverSideEmit` over the Redis adapter); each process then
 * delivers to its OWN sockets (`io.local`), coalescing counters with an interval sized
 * for its own rooms and budget. User-room events (notifications, feed, jobs) are plain
 * room broadcasts that the adapter carries.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket as TcpSocket } from 'node:net';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { Server, type Socket } from 'socket.io';
import type { Engine } from '../../actors/engine.ts';
import type { EngineEvent, EventSink } from '../../actors/events.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Metrics } from '../../metrics.ts';
import { TremoloError, failedAck } from '../../protocol/errors.ts';
import {
  CLIENT_EVENTS,
  isVideoRoom,
  userRoom,
  videoRoom,
  type ClientToServerEvents,
  type CounterPayload,
  type CommentAdded,
  type CommentDeleted,
  type InterServerEvents,
  type LiveVideoEvent,
  type ServerToClientEvents,
  type SocketData,
} from '../../protocol/live.ts';
import { msgpackParser } from '../../protocol/msgpack-parser.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { OriginPolicy } from '../http/origins.ts';
import { consume } from '../http/rate-limits.ts';
import { CounterCoalescer } from './counter-coalescer.ts';

export interface LiveSettings {
  allowAnonymous: boolean;
  parser: 'json' | 'msgpack';
  maxPayloadBytes: number;
  socketEventsPerSec: number;
  userEventsPerSec: number;
  maxWatches: number;
  maxSocketsPerUser: number;
  counterIntervalMs: number;
  deliveryBudget: number;
  /** Slice size of the rolling delivery of counter updates to big rooms; 0: the whole room at once. Default 1000. */
  broadcastSlice?: number;
  /** false: one counter event per committed write, no coalescing (the naive design, for benchmarks). Default true. */
  coalesceCounters?: boolean;
  /** Strikes (malformed or refused events) before a socket is disconnected. */
  maxStrikes?: number;
}

export interface GatewayDeps {
  httpServer: HttpServer;
  engine: Engine;
  tokens: TokenService;
  clock: Clock;
  settings: LiveSettings;
  metrics?: Metrics;
  /** Browser origins that may open sockets: this site and CORS_ORIGINS. */
  origins: OriginPolicy;
  /** With Redis: the adapter's pub/sub clients, and the rate limiter's store. */
  redis?: { pub: Redis | Cluster; sub: Redis | Cluster; prefix: string; cluster: boolean };
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
}

type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** One client event's handler; `userId` is '' for an anonymous socket. */
interface Handler {
  needsUser: boolean;
  run: (socket: IoSocket, req: unknown, userId: string) => Promise<object>;
}

export class LiveGateway implements EventSink {
  readonly io: IoServer;
  private readonly coalescer: CounterCoalescer;
  private readonly socketLimiter: RateLimiterAbstract;
  private readonly userLimiter: RateLimiterAbstract;
  private readonly socketsPerUser = new Map<string, number>();
  private readonly pendingComments = new Map<string, { added: CommentAdded[]; deleted: CommentDeleted[] }>();
  private flushScheduled = false;
  private readonly expiry = new Map<number, Set<IoSocket>>(); // second -> sockets whose token expires then
  /** Engine connections whose Origin is not admitted; refused at the handshake with a code. */
  private readonly foreignOrigin = new WeakSet<object>();
  private readonly expiryTimer: ReturnType<typeof setInterval>;
  private closing = false;
  private inflight = 0;

  constructor(private readonly deps: GatewayDeps) {
    const { settings } = deps;
    this.io = new Server(deps.httpServer, {
      serveClient: false,
      maxHttpBufferSize: settings.maxPayloadBytes,
      parser: settings.parser === 'msgpack' ? msgpackParser : undefined,
      // Recovery of missed events is the application's (offsets + event log), not Socket.IO's.
      connectionStateRecovery: undefined,
      pingInterval: 25_000,
      pingTimeout: 20_000,
      // Pages of other sites get CORS headers (long polling) only when CORS_ORIGINS lists
      // them, never with credentials: the token travels in `auth`, not in a cookie.
      ...(deps.origins.listed.length ? { cors: { origin: deps.origins.listed, credentials: false } } : {}),
    });
    if (deps.redis) {
      const { pub, sub, prefix, cluster } = deps.redis;
      // On a Redis Cluster, classic PUBLISH is copied to every node: the sharded adapter
      // (SPUBLISH, Redis 7) keeps each room's traffic on one shard instead.
      this.io.adapter(
        cluster
          ? createShardedAdapter(pub, sub, { channelPrefix: `${prefix}socket.io` })
          : createAdapter(pub, sub, { key: `${prefix}socket.io` }),
      );
    }

    this.io.engine.on('connection', (raw: EngineConnection) => {
      // The Origin is judged now, while the request is at hand (it is released just below);
      // browsers apply no CORS to WebSockets, so this is the only check a WebSocket gets.
      const { origin, host } = raw.request?.headers ?? {};
      if (!deps.origins.admits(origin, host)) this.foreignOrigin.add(raw);
      releaseUpgradeRequest(raw);
    });

    this.socketLimiter = new RateLimiterMemory({ keyPrefix: 'sock', points: settings.socketEventsPerSec, duration: 1 });
    this.userLimiter = deps.redis
      ? new RateLimiterRedis({ storeClient: deps.redis.pub, keyPrefix: `${deps.redis.prefix}rl:live-user`, points: settings.userEventsPerSec, duration: 1 })
      : new RateLimiterMemory({ keyPrefix: 'live-user', points: settings.userEventsPerSec, duration: 1 });

    this.coalescer = new CounterCoalescer({
      clock: deps.clock,
      baseIntervalMs: settings.counterIntervalMs,
      budgetPerSec: settings.deliveryBudget,
      roomSize: (videoId) => this.io.of('/').adapter.rooms.get(videoRoom(videoId))?.size ?? 0,
      emit: (payload) => this.deliverCounters(payload),
    });

    this.io.on('video:events', ({ videoId, events }) => this.deliverVideoEvents(videoId, events));
    this.io.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (err: unknown) => {
          const e = err instanceof TremoloError ? err : new TremoloError('E_INTERNAL');
          next(Object.assign(new Error(e.message), { data: { code: e.code } }));
        },
      );
    });
    this.io.on('connection', (socket) => this.onConnection(socket));

    // One timer for every socket's token expiry, not one per socket.
    this.expiryTimer = setInterval(() => this.expireTokens(), 1000);
    this.expiryTimer.unref();
  }

  // ------------------------------------------------------------ EventSink

  publish(event: EngineEvent): void {
    switch (event.type) {
      case 'video': {
        const events = event.events.map((e): LiveVideoEvent => ({ ...e, videoId: event.videoId }));
        // The adapter does not handle a failed PUBLISH: only hand events over while Redis is
        // reachable. Peers that miss some recover them from the log (the `prev` chain).
        const status = this.deps.redis?.pub.status;
        if (status === 'ready' || status === 'connect') this.io.serverSideEmit('video:events', { videoId: event.videoId, events });
        this.deliverVideoEvents(event.videoId, events);
        return;
      }
      case 'video:deleted':
        this.io.to(videoRoom(event.videoId)).emit('video:deleted', { videoId: event.videoId });
        return;
      case 'notification':
        this.io.to(userRoom(event.userId)).emit('user:notification', event.notification);
        this.count('user:notification');
        return;
      case 'feed:new':
        this.io.to(event.userIds.map(userRoom)).emit('feed:new', { videoId: event.videoId, authorId: event.authorId });
        this.count('feed:new');
        return;
      case 'job:progress': {
        const { type: _t, userId, ...payload } = event;
        this.io.to(userRoom(userId)).emit('job:progress', payload);
        this.count('job:progress');
        return;
      }
    }
  }

  /**
   * Graceful shutdown: refuse new events (E_SHUTTING_DOWN), let in-flight ones finish
   * and send their acks, tell every socket to reconnect (elsewhere), then disconnect.
   * The HTTP server is left to its owner.
   */
  async close(opts: { retryAfterMs?: number; timeoutMs?: number } = {}): Promise<void> {
    this.closing = true;
    clearInterval(this.expiryTimer);
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.flushComments();
    this.coalescer.close();
    this.io.local.emit('server:shutdown', { retryAfterMs: opts.retryAfterMs ?? 1000 });
    this.io.local.disconnectSockets(true);
    this.io.engine.close();
    // the adapter's pub/sub connections are closed by their owner (main.ts)
  }

  get connectedSockets(): number {
    return this.io.of('/').sockets.size;
  }

  // ------------------------------------------------------------ delivery

  private deliverVideoEvents(videoId: string, events: LiveVideoEvent[]): void {
    for (const e of events) {
      if (e.type === 'counters') {
        const payload = { videoId, ...e.counters, offset: e.offset };
        if (this.deps.settings.coalesceCounters === false) {
          this.io.local.to(videoRoom(videoId)).emit('video:counters', payload);
          this.count('video:counters');
        } else this.coalescer.offer(payload);
      } else {
        let pending = this.pendingComments.get(videoId);
        if (!pending) this.pendingComments.set(videoId, (pending = { added: [], deleted: [] }));
        if (e.type === 'comment:added') pending.added.push(e);
        else pending.deleted.push(e);
      }
    }
    if (this.pendingComments.size && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flushComments());
    }
  }

  /** Comments go out each one, but batched per tick: one message per room per tick. */
  private flushComments(): void {
    this.flushScheduled = false;
    for (const [videoId, { added, deleted }] of this.pendingComments) {
      const room = this.io.local.to(videoRoom(videoId));
      if (added.length) room.emit('comment:added', added);
      if (deleted.length) room.emit('comment:deleted', deleted);
      this.count('comment', added.length + deleted.length);
    }
    this.pendingComments.clear();
  }

  /**
   * A counter update to the local sockets of a room. A big room is delivered rolling: its
   * sockets in slices of `broadcastSlice`, the slices spread evenly over the room's interval,
   * each carrying the newest counters at the moment it goes out. Every socket still gets one
   * update per interval (the budget holds), but no socket waits behind the rest of the room,
   * and the event loop never spends more than one slice at a time: one broadcast to 10,000
   * sockets is 10,000 socket writes, ~100 ms here in which every like's ack would wait.
   */
  private deliverCounters(payload: CounterPayload): void {
    const { videoId } = payload;
    const room = videoRoom(videoId);
    const members = this.io.of('/').adapter.rooms.get(room);
    if (!members) return;
    this.count('video:counters');
    const slice = this.deps.settings.broadcastSlice ?? 1000;
    if (slice === 0 || members.size <= slice) {
      this.io.local.to(room).emit('video:counters', payload);
      return;
    }
    const ids = [...members];
    const slices = Math.ceil(ids.length / slice);
    const step = this.coalescer.intervalFor(videoId) / slices;
    for (let k = 0; k < slices; k++) {
      const part = ids.slice(k * slice, (k + 1) * slice);
      // a socket's own id is a room: this reaches exactly the slice, with one encoding per slice
      const send = () => this.io.local.to(part).emit('video:counters', this.coalescer.latest(videoId) ?? payload);
      if (k === 0) send();
      else this.deps.clock.setTimeout(send, k * step).unref?.();
    }
  }

  private count(event: string, n = 1): void {
    this.deps.metrics?.liveEvents.inc({ event }, n);
  }

  // ------------------------------------------------------------ connections

  private async authenticate(socket: IoSocket): Promise<void> {
    if (this.foreignOrigin.has(socket.conn)) throw new TremoloError('E_ORIGIN_NOT_ALLOWED', 'This origin may not open sockets here (CORS_ORIGINS)');
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    socket.data.strikes = 0;
    if (token === undefined || token === null || token === '') {
      if (!this.deps.settings.allowAnonymous) throw new TremoloError('E_TOKEN_MISSING');
      return;
    }
    if (typeof token !== 'string') throw new TremoloError('E_TOKEN_INVALID');
    const principal = await this.deps.tokens.verify(token);
    const open = this.socketsPerUser.get(principal.userId) ?? 0;
    if (open >= this.deps.settings.maxSocketsPerUser) throw new TremoloError('E_TOO_MANY_CONNECTIONS');
    socket.data.userId = principal.userId;
    socket.data.tokenExp = principal.expiresAt;
  }

  /**
   * Per-socket state is kept to what Socket.IO itself needs: the handlers below are one
   * table shared by every socket, reached through one shared `onAny` listener and one
   * shared `disconnect` listener (both called with the socket as `this`), so a connection
   * costs no closures of its own. At 10,000 sockets the eight per-socket listener
   * closures this replaces were about a third of the gateway's memory per socket.
   */
  private onConnection(socket: IoSocket): void {
    const { userId, tokenExp } = socket.data;
    this.deps.metrics?.liveSockets.inc();
    if (userId !== undefined) {
      this.socketsPerUser.set(userId, (this.socketsPerUser.get(userId) ?? 0) + 1);
      void socket.join(userRoom(userId));
      if (tokenExp !== undefined) {
        let bucket = this.expiry.get(tokenExp);
        if (!bucket) this.expiry.set(tokenExp, (bucket = new Set()));
        bucket.add(socket);
      }
    }
    socket.on('disconnect', this.onDisconnect);
    socket.onAny(this.onEvent);
  }

  /** Shared by every socket (`this` is the socket). */
  private readonly onDisconnect = ((gateway: LiveGateway) =>
    function (this: IoSocket): void {
      const { userId, tokenExp } = this.data;
      gateway.deps.metrics?.liveSockets.dec();
      if (userId !== undefined) {
        const n = (gateway.socketsPerUser.get(userId) ?? 1) - 1;
        if (n <= 0) gateway.socketsPerUser.delete(userId);
        else gateway.socketsPerUser.set(userId, n);
        if (tokenExp !== undefined) gateway.expiry.get(tokenExp)?.delete(this);
      }
    })(this);

  /** Shared by every socket (`this` is the socket): routes a client event to its handler. */
  private readonly onEvent = ((gateway: LiveGateway) =>
    function (this: IoSocket, event: string, ...args: unknown[]): void {
      const handler = gateway.handlers.get(event);
      if (handler) {
        void gateway.run(this, event, handler, args[0], args[1]);
        return;
      }
      const ack = args.at(-1);
      if (typeof ack === 'function') ack(failedAck(new TremoloError('E_UNKNOWN_EVENT', `No event ${JSON.stringify(event).slice(0, 64)}`)));
      gateway.strike(this);
    })(this);

  /** Every client event: whether it needs a signed-in user, and what it does. */
  private readonly handlers = new Map<string, Handler>(
    Object.entries({
      'video:watch': {
        needsUser: false,
        run: async (socket, req, uid) => {
          const { engine } = this.deps;
          const userId = uid === '' ? undefined : uid;
          const videoId = requireString(req, 'videoId');
          const sinceOffset = optionalOffset(req);
          const epoch = optionalString(req, 'epoch');
          // the socket's rooms are the record of what it watches (no per-socket set of our own);
          // checked and joined in one synchronous step, so concurrent watches cannot overshoot
          if (!socket.rooms.has(videoRoom(videoId)) && watchedCount(socket) >= this.deps.settings.maxWatches) {
            throw new TremoloError('E_TOO_MANY_WATCHES');
          }
          // join first, so no event committed after the snapshot is missed (duplicates are dropped by offset)
          await socket.join(videoRoom(videoId));
          try {
            const watch = await engine.watch(videoId, {
              ...(userId !== undefined ? { userId } : {}),
              ...(sinceOffset !== undefined ? { sinceOffset } : {}),
              ...(epoch !== undefined ? { epoch } : {}),
            });
            if (sinceOffset === undefined) engine.view(videoId, userId).catch(() => {}); // a view is best effort
            return {
              videoId,
              snapshot: watch.snapshot,
              ...(watch.events ? { events: watch.events.map((e): LiveVideoEvent => ({ ...e, videoId })) } : {}),
              ...(watch.recovered !== undefined ? { recovered: watch.recovered } : {}),
            };
          } catch (err) {
            await socket.leave(videoRoom(videoId));
            throw err;
          }
        },
      },
      'video:unwatch': {
        needsUser: false,
        run: async (socket, req) => {
          const videoId = requireString(req, 'videoId');
          await socket.leave(videoRoom(videoId));
          return { videoId };
        },
      },
      'video:like': {
        needsUser: true,
        run: async (_socket, req, uid) => {
          const r = await this.deps.engine.like(requireString(req, 'videoId'), uid);
          return { changed: r.changed, counters: r.counters, offset: r.log.offset };
        },
      },
      'video:unlike': {
        needsUser: true,
        run: async (_socket, req, uid) => {
          const r = await this.deps.engine.unlike(requireString(req, 'videoId'), uid);
          return { changed: r.changed, counters: r.counters, offset: r.log.offset };
        },
      },
      'comment:add': {
        needsUser: true,
        run: async (_socket, req, uid) => {
          const r = await this.deps.engine.addComment(requireString(req, 'videoId'), uid, {
            text: (req as { text?: unknown }).text,
            replyTo: (req as { replyTo?: unknown }).replyTo,
            idempotencyKey: requireString(req, 'idempotencyKey'),
          });
          return { comment: r.comment, duplicate: r.duplicate, offset: r.log.offset };
        },
      },
      'comment:delete': {
        needsUser: true,
        run: async (_socket, req, uid) => {
          const r = await this.deps.engine.deleteComment(requireString(req, 'commentId'), uid);
          return { deleted: r.deleted };
        },
      },
      'user:follow': { needsUser: true, run: async (_socket, req, uid) => this.deps.engine.follow(uid, requireString(req, 'userId')) },
      'user:unfollow': { needsUser: true, run: async (_socket, req, uid) => this.deps.engine.unfollow(uid, requireString(req, 'userId')) },
    } satisfies Record<(typeof CLIENT_EVENTS)[number], Handler>),
  );

  /**
   * Runs one client event: rate limits, a user for writes, payload checks, and an ack
   * that carries either the result (sent after the write is durable) or a catalog error.
   */
  private async run(socket: IoSocket, event: string, handler: Handler, req: unknown, ack: unknown): Promise<void> {
    const reply =
      typeof ack === 'function'
        ? (ack as (r: unknown) => void)
        : () => {
            /* no ack callback: the client does not want an answer */
          };
    this.inflight++;
    try {
      if (this.closing) throw new TremoloError('E_SHUTTING_DOWN');
      await consume(this.socketLimiter, socket.id);
      const userId = socket.data.userId;
      if (userId !== undefined) await consume(this.userLimiter, userId);
      if (handler.needsUser && userId === undefined) throw new TremoloError('E_TOKEN_MISSING', 'Sign in to do this');
      if (typeof req !== 'object' || req === null) throw new TremoloError('E_VALIDATION', 'The payload must be an object');
      const result = await handler.run(socket, req, userId ?? '');
      reply({ ok: true, ...result });
    } catch (err) {
      const e = err instanceof TremoloError ? err : new TremoloError('E_INTERNAL', undefined, { cause: err });
      if (e.code === 'E_INTERNAL') this.deps.log.error({ err, event }, 'socket event failed');
      if (e.code === 'E_VALIDATION' || e.code === 'E_RATE_LIMITED') this.strike(socket);
      reply(failedAck(e));
    } finally {
      this.inflight--;
    }
  }

  /** A socket that keeps misbehaving is disconnected; one bad event only gets an error ack. */
  private strike(socket: IoSocket): void {
    socket.data.strikes++;
    if (socket.data.strikes > (this.deps.settings.maxStrikes ?? 50)) socket.disconnect(true);
  }

  private expireTokens(): void {
    const nowS = Math.floor(this.deps.clock.now() / 1000);
    for (const [exp, sockets] of this.expiry) {
      if (exp > nowS) continue;
      for (const socket of sockets) {
        socket.emit('session:expired', { code: 'E_TOKEN_EXPIRED' });
        socket.disconnect(true);
      }
      this.expiry.delete(exp);
    }
  }
}

/** The parts of an engine.io connection used here. */
interface EngineConnection {
  request: { headers: { origin?: string; host?: string } } | null;
  transport: { socket?: { _socket?: TcpSocket } };
}

/**
 * Socket.IO's memory advice is to drop the engine's reference to the HTTP request that opened
 * each connection. engine.io 6 keeps a second one: for a WebSocket upgrade it wraps the request
 * in a `WebSocketResponse` whose `socket.once('close', () => this.emit('close'))` listener (for
 * HTTP middlewares, which tremolo does not install on the engine) holds request, headers and
 * query until the connection ends, about 1.7 KB per socket. Both go here; the gateway test
 * checks with a WeakRef that the request is really collected, so an engine.io that changes
 * this shows up there.
 */
function releaseUpgradeRequest(raw: EngineConnection): void {
  raw.request = null;
  const tcp = raw.transport.socket?._socket; // the ws WebSocket's net.Socket (absent for polling)
  if (!tcp) return;
  for (const wrapper of tcp.rawListeners('close') as ((() => void) & { listener?: () => void })[]) {
    if (wrapper.listener?.toString().includes('this.emit("close")')) tcp.removeListener('close', wrapper);
  }
}

function watchedCount(socket: IoSocket): number {
  let n = 0;
  for (const room of socket.rooms) if (isVideoRoom(room)) n++;
  return n;
}

function requireString(req: unknown, field: string): string {
  const v = (req as Record<string, unknown>)[field];
  if (typeof v !== 'string' || v.length === 0 || v.length > 128) {
    throw new TremoloError('E_VALIDATION', `${field} must be a non-empty string`, { details: { field } });
  }
  return v;
}

function optionalString(req: unknown, field: string): string | undefined {
  const v = (req as Record<string, unknown>)[field];
  return v === undefined || v === null ? undefined : requireString(req, field);
}

function optionalOffset(req: unknown): number | undefined {
  const v = (req as Record<string, unknown>).sinceOffset;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new TremoloError('E_VALIDATION', 'sinceOffset must be a non-negative integer', { details: { field: 'sinceOffset' } });
  }
  return v;
}
