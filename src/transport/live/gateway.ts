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
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket as TcpSocket } from 'node:net';
import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import type { Engine } from '../../actors/engine.ts';
import type { EngineEvent, EventSink } from '../../actors/events.ts';
import type { TrustProxy } from '../../config.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Metrics } from '../../metrics.ts';
import { TremoloError, failedAck } from '../../protocol/errors.ts';
import type { RateLimitStore } from '../../storage/rate-limits.ts';
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
  type WatchReply,
} from '../../protocol/live.ts';
import { msgpackParser } from '../../protocol/msgpack-parser.ts';
import { answerParserMismatch } from './parser-mismatch.ts';
import type { TokenService } from '../auth/tokens.ts';
import { addressKey, anonymousViewerKey, clientAddress, trustFunction, type TrustFn } from '../client-address.ts';
import type { OriginPolicy } from '../http/origins.ts';
import { consume } from '../http/rate-limits.ts';
import { CounterCoalescer } from './counter-coalescer.ts';
import { WatchHolds } from './watch-holds.ts';

export interface LiveSettings {
  allowAnonymous: boolean;
  parser: 'json' | 'msgpack';
  maxPayloadBytes: number;
  socketEventsPerSec: number;
  userEventsPerSec: number;
  maxWatches: number;
  maxSocketsPerUser: number;
  /** Open sockets per client address (key) in this process, anonymous or not. */
  maxSocketsPerIp: number;
  /** Proxies whose X-Forwarded-For names the client (as for HTTP). Default: none. */
  trustProxy?: TrustProxy;
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
  /** Where the per-user event counters (USER_EVENTS_PER_SEC, over all of a user's sockets) live. */
  userEventCounters: RateLimitStore;
  /**
   * With several processes: Socket.IO's adapter that carries broadcasts between them
   * (storage/redis/connection.ts builds it), and whether it can publish now.
   */
  crossProcess?: { adapter: ServerOptions['adapter']; reachable(): boolean };
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
}

type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/**
 * A handler's reply with packets that must reach the client after the ack, in this order
 * (a watch's held events: watch-holds.ts).
 */
class AckThen {
  constructor(
    readonly reply: object,
    readonly afterAck: () => void,
  ) {}
}

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
  private readonly holds = new WatchHolds();
  /** Open sockets, and handshakes under way, per client address key. */
  private readonly socketsPerIp = new Map<string, number>();
  private readonly trust: TrustFn | false;
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
    this.trust = trustFunction(settings.trustProxy ?? { kind: 'off' });
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
    if (deps.crossProcess) this.io.adapter(deps.crossProcess.adapter);

    this.io.engine.on('connection', (raw: EngineConnection) => {
      // The client's address and the Origin are read now, while the opening request is at
      // hand (it is released just below). Browsers apply no CORS to WebSockets, so this is
      // the only Origin check a WebSocket gets.
      raw.clientAddress = addressKey(clientAddress(raw.remoteAddress, raw.request?.headers['x-forwarded-for'], this.trust));
      const { origin, host } = raw.request?.headers ?? {};
      if (!deps.origins.admits(origin, host)) this.foreignOrigin.add(raw);
      releaseUpgradeRequest(raw);
    });
    this.io.engine.on('connection', answerParserMismatch(settings.parser));
    this.io.of('/').adapter.on('delete-room', (room: string) => {
      if (isVideoRoom(room)) this.holds.roomClosed(room.slice(videoRoom('').length));
    });

    this.socketLimiter = new RateLimiterMemory({ keyPrefix: 'sock', points: settings.socketEventsPerSec, duration: 1 });
    this.userLimiter = deps.userEventCounters.limiter('live-user', settings.userEventsPerSec, 1);

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
        // The adapter does not handle a failed PUBLISH: only hand events over while the bus is
        // reachable. Peers that miss some recover them from the log (the `prev` chain).
        if (this.deps.crossProcess?.reachable()) this.io.serverSideEmit('video:events', { videoId: event.videoId, events });
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
    // the adapter's connections are closed by their owner (storage's RedisConnection)
  }

  get connectedSockets(): number {
    return this.io.of('/').sockets.size;
  }

  // ------------------------------------------------------------ delivery

  private deliverVideoEvents(videoId: string, events: LiveVideoEvent[]): void {
    for (const e of events) {
      if (e.type === 'counters') {
        const payload = { videoId, ...e.counters, offset: e.offset };
        this.holds.counters(payload);
        if (this.deps.settings.coalesceCounters === false) {
          this.io.local.to(videoRoom(videoId)).except(this.aheadOf(videoId, payload.offset)).emit('video:counters', payload);
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
      const fresh = this.holds.freshIn(videoId);
      const room = fresh ? this.io.local.to(videoRoom(videoId)).except([...fresh.keys()]) : this.io.local.to(videoRoom(videoId));
      if (added.length) room.emit('comment:added', added);
      if (deleted.length) room.emit('comment:deleted', deleted);
      // sockets that joined with an ack newer than some of these get only what is above it
      for (const [id, acked] of fresh ?? []) {
        const socket = this.io.of('/').sockets.get(id);
        const newAdded = added.filter((e) => e.offset > acked);
        const newDeleted = deleted.filter((e) => e.offset > acked);
        if (newAdded.length) socket?.emit('comment:added', newAdded);
        if (newDeleted.length) socket?.emit('comment:deleted', newDeleted);
      }
      this.holds.comments(videoId, added, deleted);
      this.holds.passed(videoId, Math.max(...added.map((e) => e.offset), ...deleted.map((e) => e.offset)));
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
      this.io.local.to(room).except(this.aheadOf(videoId, payload.offset)).emit('video:counters', payload);
      return;
    }
    const ids = [...members];
    const slices = Math.ceil(ids.length / slice);
    const step = this.coalescer.intervalFor(videoId) / slices;
    for (let k = 0; k < slices; k++) {
      const part = ids.slice(k * slice, (k + 1) * slice);
      // a socket's own id is a room: this reaches exactly the slice, with one encoding per slice
      const send = () => {
        const latest = this.coalescer.latest(videoId) ?? payload;
        this.io.local.to(part).except(this.aheadOf(videoId, latest.offset)).emit('video:counters', latest);
      };
      if (k === 0) send();
      else this.deps.clock.setTimeout(send, k * step).unref?.();
    }
  }

  /** Sockets that joined with an ack newer than `offset`: counters this old would step them back. */
  private aheadOf(videoId: string, offset: number): string[] {
    const fresh = this.holds.freshIn(videoId);
    if (!fresh) return [];
    const ids: string[] = [];
    for (const [id, acked] of fresh) if (acked >= offset) ids.push(id);
    return ids;
  }

  private count(event: string, n = 1): void {
    this.deps.metrics?.liveEvents.inc({ event }, n);
  }

  // ------------------------------------------------------------ connections

  /**
   * The handshake: a place under the client address's cap, then the token. The place is
   * taken at once and held while the token is checked, so a burst of concurrent handshakes
   * cannot all pass the check; it passes to the connection (onConnection counts it again
   * within the same tick) or is given back when the handshake fails.
   */
  private async authenticate(socket: IoSocket): Promise<void> {
    if (this.foreignOrigin.has(socket.conn)) throw new TremoloError('E_ORIGIN_NOT_ALLOWED', 'This origin may not open sockets here (CORS_ORIGINS)');
    const address = (socket.conn as unknown as EngineConnection).clientAddress ?? addressKey(socket.handshake.address);
    const held = this.socketsPerIp.get(address) ?? 0;
    if (held >= this.deps.settings.maxSocketsPerIp) {
      throw new TremoloError('E_TOO_MANY_CONNECTIONS', 'Too many open connections from this address');
    }
    socket.data.address = address;
    this.socketsPerIp.set(address, held + 1);
    try {
      await this.authenticateToken(socket);
    } finally {
      this.releaseAddress(address);
    }
  }

  private releaseAddress(address: string): void {
    const n = (this.socketsPerIp.get(address) ?? 1) - 1;
    if (n <= 0) this.socketsPerIp.delete(address);
    else this.socketsPerIp.set(address, n);
  }

  private async authenticateToken(socket: IoSocket): Promise<void> {
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
    const { userId, tokenExp, address } = socket.data;
    this.deps.metrics?.liveSockets.inc();
    this.socketsPerIp.set(address, (this.socketsPerIp.get(address) ?? 0) + 1);
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
      const { userId, tokenExp, address } = this.data;
      gateway.deps.metrics?.liveSockets.dec();
      gateway.releaseAddress(address);
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
          const room = videoRoom(videoId);
          const watching = socket.rooms.has(room);
          // the socket's rooms and its pending watches are the record of what it watches (no
          // per-socket set of our own); checked and held in one synchronous step, so
          // concurrent watches cannot overshoot
          if (!watching && watchedCount(socket) + this.holds.pendingFor(socket.id) >= this.deps.settings.maxWatches) {
            throw new TremoloError('E_TOO_MANY_WATCHES');
          }
          // Out of the room until the ack is written; what the room gets meanwhile is held
          // (leave and hold in one synchronous step, so nothing falls between them).
          const left = watching ? socket.leave(room) : undefined;
          const hold = this.holds.begin(socket.id, videoId);
          let reply: WatchReply;
          let acked: number;
          try {
            await left;
            const watch = await engine.watch(videoId, {
              ...(userId !== undefined ? { userId } : {}),
              ...(sinceOffset !== undefined ? { sinceOffset } : {}),
              ...(epoch !== undefined ? { epoch } : {}),
            });
            if (sinceOffset === undefined) this.countView(socket, videoId, userId);
            const events = watch.events?.map((e): LiveVideoEvent => ({ ...e, videoId }));
            // What the ack covers: the events it carries when it recovered (the snapshot is read
            // after them and may be ahead: what lies between still comes live), else the snapshot.
            acked = events ? Math.max(sinceOffset ?? 0, ...events.map((e) => e.offset)) : watch.snapshot.offset;
            reply = {
              videoId,
              snapshot: watch.snapshot,
              ...(events ? { events } : {}),
              ...(watch.recovered !== undefined ? { recovered: watch.recovered } : {}),
            };
          } catch (err) {
            this.holds.end(hold);
            throw err;
          }
          return new AckThen(reply, () => {
            // Another watch of this video by the same socket got in first: the room has
            // already sent this socket whatever was held here.
            const joined = socket.rooms.has(room);
            const held = this.holds.end(hold, acked);
            if (!socket.connected || joined) return;
            void socket.join(room);
            this.holds.joined(videoId, socket.id, acked);
            if (held.added.length) socket.emit('comment:added', held.added);
            if (held.deleted.length) socket.emit('comment:deleted', held.deleted);
            if (held.counters) socket.emit('video:counters', held.counters);
          });
        },
      },
      'video:unwatch': {
        needsUser: false,
        run: async (socket, req) => {
          const videoId = requireString(req, 'videoId');
          this.holds.unwatched(videoId, socket.id);
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
   * A watch counts a view, once per connection and video (re-watching is free); the store
   * then counts a viewer once per VIEW_DEDUP_S: a signed-in viewer by user, an anonymous one
   * by its address, so new connections from one address do not add views either.
   */
  private countView(socket: IoSocket, videoId: string, userId: string | undefined): void {
    const viewed = (socket.data.viewed ??= new Set());
    if (viewed.has(videoId)) return;
    // bounded: a connection that watched this many videos falls back on the store's dedup alone
    if (viewed.size >= MAX_VIEWED_PER_SOCKET) viewed.delete(viewed.values().next().value as string);
    viewed.add(videoId);
    const viewer = userId !== undefined ? { userId } : { anonymousKey: anonymousViewerKey(socket.data.address) };
    this.deps.engine.view(videoId, viewer).catch(() => {}); // a view is best effort
  }

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
      if (result instanceof AckThen) {
        reply({ ok: true, ...result.reply });
        result.afterAck();
      } else reply({ ok: true, ...result });
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

/** What the gateway uses of an engine.io connection. */
interface EngineConnection {
  remoteAddress: string;
  request: IncomingMessage | null;
  transport: { socket?: { _socket?: TcpSocket } };
  /** The client's address key, set when the connection opens (before `request` is released). */
  clientAddress?: string;
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

/** Videos a connection remembers having counted a view of. */
const MAX_VIEWED_PER_SOCKET = 256;

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
