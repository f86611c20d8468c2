/**
 * The Socket.IO gateway, a thin shell: it builds the server and joins the parts that do the
 * work. Sessions (sessions.ts) admit sockets and end them when their token expires; dispatch
 * (dispatch.ts) turns client events into engine calls, acknowledged only once durable;
 * delivery (delivery.ts) takes the engine's events to rooms, across processes through the
 * cluster adapter. A process alone needs no adapter; several share one (Redis in production,
 * an in-memory bus in tests).
 */
import type { Server as HttpServer } from 'node:http';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { Server, type ServerOptions } from 'socket.io';
import type { Engine } from '../../actors/engine.ts';
import type { EngineEvent, EventSink } from '../../actors/events.ts';
import type { Video } from '../../protocol/model.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Metrics } from '../../metrics.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { msgpackParser } from '../../protocol/msgpack-parser.ts';
import { noopTracing, type Tracing } from '../../telemetry/tracing.ts';
import type { RateCounters } from '../http/rate-counters.ts';
import type { TokenService } from '../auth/tokens.ts';
import type { OriginPolicy } from '../http/origins.ts';
import { ClientRequests } from './client-requests.ts';
import { LiveDelivery, type DeliverySettings } from './delivery.ts';
import { LiveDispatch } from './dispatch.ts';
import { DmDelivery, DmLanes } from './dm-lanes.ts';
import type { IoServer, IoSocket } from './io.ts';
import { answerParserMismatch } from './parser-mismatch.ts';
import { LiveSessions, type EngineConnection, type SessionSettings } from './sessions.ts';
import { Watches } from './watches.ts';

export interface LiveSettings extends SessionSettings, DeliverySettings {
  parser: 'json' | 'msgpack';
  maxPayloadBytes: number;
  socketEventsPerSec: number;
  /** Client events worked on at once in this process (SOCKET_MAX_INFLIGHT); more get E_BUSY. Default 10,000. */
  maxInflight?: number;
  userEventsPerSec: number;
  maxWatches: number;
  /** Strikes (malformed or refused events) before a socket is disconnected. */
  maxStrikes?: number;
  /** COMMENT_MAX_CHARS, which `comment:add` payloads are checked against (as REST bodies are). */
  commentMaxChars: number;
  /** DM_TEXT_MAX_CHARS and DM_GROUP_MAX, for `dm:send` payloads. Defaults 2000 and 32. */
  dmTextMaxChars?: number;
  dmGroupMax?: number;
}

/** How this process reaches the others serving the same videos' rooms. */
export interface CrossProcess {
  /** The Socket.IO adapter that carries room broadcasts and `serverSideEmit` between processes. */
  adapter: NonNullable<ServerOptions['adapter']>;
  /** Whether it can publish now (the Redis adapter does not handle a failed PUBLISH). */
  reachable(): boolean;
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
  userEventCounters: RateCounters;
  /** Stored media paths -> signed URLs (the media pipeline's presentMedia). Default: as stored. */
  presentVideo?: (video: Video) => Video;
  /**
   * With several processes: the adapter between them (storage/redis/connection.ts builds
   * Redis's; tests use an in-memory bus). Absent: this process is alone.
   */
  crossProcess?: CrossProcess;
  log: { warn: (obj: object, msg: string) => void; error: (obj: object, msg: string) => void };
  /**
   * Spans of handshakes, client events and deliveries. Socket.IO carries no headers: a client
   * sends its W3C `traceparent` in the handshake `auth` (the parent of its events) and may send
   * one in an event's payload (the parent of that event). Default: off.
   */
  tracing?: Tracing;
}

export class LiveGateway implements EventSink {
  readonly io: IoServer;
  private readonly sessions: LiveSessions;
  private readonly delivery: LiveDelivery;
  private readonly dispatch: LiveDispatch;
  private readonly dmLanes: DmLanes;
  private readonly dmDelivery: DmDelivery;

  constructor(deps: GatewayDeps) {
    const { settings, clock, metrics } = deps;
    const tracing = deps.tracing ?? noopTracing;
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
    const { crossProcess } = deps;
    if (crossProcess) this.io.adapter(crossProcess.adapter);

    this.sessions = new LiveSessions({ tokens: deps.tokens, clock, origins: deps.origins, settings, ...(metrics ? { metrics } : {}) });
    this.io.engine.on('connection', (raw: EngineConnection) => this.sessions.opened(raw));
    this.io.engine.on('connection', answerParserMismatch(settings.parser));
    this.delivery = new LiveDelivery({
      io: this.io,
      clock,
      settings,
      tracing,
      ...(metrics ? { metrics } : {}),
      ...(crossProcess ? { canReachPeers: () => crossProcess.reachable() } : {}),
    });
    this.dmLanes = new DmLanes({
      io: this.io,
      catchUp: (conversationId, sinceSeq, limit) => deps.engine.dm.catchUp(conversationId, sinceSeq, limit),
      settings: { page: deps.engine.dm.limits.syncPage, maxLanesPerSocket: 256, maxQueued: 10_000 },
      log: deps.log,
    });
    this.dmDelivery = new DmDelivery(this.io, this.dmLanes, crossProcess ? () => crossProcess.reachable() : undefined);
    this.dispatch = new LiveDispatch({
      engine: deps.engine,
      ...(deps.presentVideo ? { presentVideo: deps.presentVideo } : {}),
      dmLanes: this.dmLanes,
      watches: new Watches({ engine: deps.engine, holds: this.delivery.holds, maxWatches: settings.maxWatches }),
      requests: new ClientRequests({
        commentMaxChars: settings.commentMaxChars,
        ...(settings.dmTextMaxChars !== undefined ? { dmTextMaxChars: settings.dmTextMaxChars } : {}),
        ...(settings.dmGroupMax !== undefined ? { dmGroupMax: settings.dmGroupMax } : {}),
      }),
      socketLimiter: new RateLimiterMemory({ keyPrefix: 'sock', points: settings.socketEventsPerSec, duration: 1 }),
      userLimiter: deps.userEventCounters.limiter('live-user', settings.userEventsPerSec, 1),
      clock,
      tracing,
      ...(settings.maxStrikes !== undefined ? { maxStrikes: settings.maxStrikes } : {}),
      ...(settings.maxInflight !== undefined ? { maxInflight: settings.maxInflight } : {}),
      log: deps.log,
    });

    this.io.use((socket, next) => {
      const span = tracing.enabled ? handshakeSpan(tracing, socket) : undefined;
      this.sessions.handshake(socket).then(
        () => {
          span?.set({ 'enduser.id': socket.data.userId, 'tremolo.ack.code': 'ok' });
          span?.end();
          next();
        },
        (err: unknown) => {
          const e = err instanceof TremoloError ? err : new TremoloError('E_INTERNAL');
          span?.set({ 'tremolo.ack.code': e.code });
          span?.fail(e);
          span?.end();
          next(Object.assign(new Error(e.message), { data: { code: e.code } }));
        },
      );
    });
    this.io.on('connection', (socket) => {
      this.sessions.connected(socket);
      socket.onAny(this.dispatch.onEvent);
      socket.on('disconnect', this.dmClosed);
    });
  }

  publish(event: EngineEvent): void {
    if (DmDelivery.handles(event)) this.dmDelivery.publish(event);
    else this.delivery.publish(event);
  }

  /** Shared by every socket (`this` is the socket): its direct-message lanes go with it. */
  private readonly dmClosed = ((lanes: () => DmLanes) =>
    function (this: { id: string }): void {
      lanes().closed(this.id);
    })(() => this.dmLanes);

  /**
   * Graceful shutdown: refuse new events (E_SHUTTING_DOWN), let in-flight ones finish
   * and send their acks, tell every socket to reconnect (elsewhere), then disconnect.
   * The HTTP server is left to its owner.
   */
  async close(opts: { retryAfterMs?: number; timeoutMs?: number } = {}): Promise<void> {
    this.sessions.close();
    await this.dispatch.drain(opts.timeoutMs ?? 5000);
    this.delivery.close();
    this.io.local.emit('server:shutdown', { retryAfterMs: opts.retryAfterMs ?? 1000 });
    this.io.local.disconnectSockets(true);
    this.io.engine.close();
    // the adapter's connections are closed by their owner (storage's RedisConnection)
  }

  get connectedSockets(): number {
    return this.io.of('/').sockets.size;
  }
}

/**
 * The span of a handshake. The client's `traceparent` and `tracestate` (handshake `auth`) are its parent, and are
 * kept on the socket as the parent of the socket's events that bring none of their own.
 */
function handshakeSpan(tracing: Tracing, socket: IoSocket) {
  const auth: unknown = socket.handshake.auth;
  const given = typeof auth === 'object' && auth !== null ? (auth as { traceparent?: unknown; tracestate?: unknown }) : undefined;
  const remote = given?.traceparent === undefined ? undefined : tracing.extract(given.traceparent, given.tracestate);
  if (remote) socket.data.trace = remote;
  return tracing.start('socket.handshake', { kind: 'server', parent: remote ?? 'root', attributes: { 'network.transport': 'tcp' } });
}
