/**
 * The gRPC interface (tremolo.v1, proto/tremolo/v1/tremolo.proto) for backend services, on
 * its own port (GRPC_PORT). A transport like the HTTP routes: it authenticates the caller,
 * validates what arrives, calls the Engine and maps catalog errors to gRPC status codes
 * (status.ts). With the `grpc.health.v1` health service and server reflection.
 *
 * Callers: a user's access token acts as that user; a service token (`role: service`) may act
 * for any user named in the request's `user_id`, and may delete any comment (moderation).
 * Deadlines: a call whose deadline has passed is not started; a stream ends with
 * DEADLINE_EXCEEDED when it passes (grpc-js) and lets go of everything it held.
 * Tracing: each call is a server span named `tremolo.v1.Tremolo/<Method>` (the RPC semantic
 * conventions), continuing the W3C `traceparent` metadata entry that OpenTelemetry's gRPC
 * instrumentation sends; a stream's span lasts as long as the stream.
 */
import {
  Server,
  ServerCredentials,
  status as Status,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { videoOfComment, type Engine } from '../../actors/engine.ts';
import type { Clock } from '../../domain/clock.ts';
import { observe, type Metrics } from '../../metrics.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { noopTracing, type SpanHandle, type Tracing } from '../../telemetry/tracing.ts';
import type { Video } from '../../protocol/model.ts';
import { bearerToken, type Caller, type TokenService } from '../auth/tokens.ts';
import type { RateLimits } from '../http/rate-limits.ts';
import { likeReply } from '../replies.ts';
import { loadContract, SERVICE_NAME } from './contract.ts';
import {
  commentMessage,
  userMessage,
  videoMessage,
  type AddCommentRequest,
  type DeleteCommentRequest,
  type FollowRequest,
  type GetUserRequest,
  type GetVideosRequest,
  type LikeRequest,
  type SubscribeInteractionsRequest,
  type VideoUpdate,
  type WatchVideoRequest,
} from './messages.ts';
import { serveInteractions, type InteractionBatchMessage, type InteractionSource } from './interactions-stream.ts';
import { toServiceError } from './status.ts';
import { serveWatch, VideoFollowers } from './video-stream.ts';

export interface GrpcSettings {
  host: string;
  port: number;
  /** Largest request message accepted (bytes). */
  maxMessageBytes: number;
  /** Streams (WatchVideo, SubscribeInteractions) this process serves at once; above it UNAVAILABLE (`E_BUSY`). */
  maxStreams: number;
  /** Serve over TLS with this certificate and key (TLS_CERT/TLS_KEY); else in clear text. */
  tls?: { cert: string; key: string };
  /** Followed video logs are read again this often without an announcement (a lost one costs at most this). */
  watchPollMs: number;
}

export interface GrpcDeps {
  engine: Engine;
  tokens: TokenService;
  limits: RateLimits;
  clock: Clock;
  /** Stored media paths -> signed URLs. */
  presentMedia: (video: Video) => Video;
  settings: GrpcSettings;
  /**
   * The behaviour log's reading side (`engine.interactions`), for SubscribeInteractions.
   */
  interactions: InteractionSource;
  /** Server faults (not what a caller caused). */
  onError: (err: unknown, context: string) => void;
  /** A span per call (telemetry/tracing.ts). Default: off. */
  tracing?: Tracing;
  /** Each call's duration by method and status code. */
  metrics?: Pick<Metrics, 'grpcDuration' | 'exemplars'>;
}

/**
 * The gRPC status codes that make a server span an error, as the RPC semantic conventions say
 * (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS): the others are
 * the caller's doing, recorded as the status code only.
 */
const SERVER_FAULTS: ReadonlySet<number> = new Set([Status.UNKNOWN, Status.DEADLINE_EXCEEDED, Status.UNIMPLEMENTED, Status.INTERNAL, Status.UNAVAILABLE, Status.DATA_LOSS]);

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/** A user that a call acts as. */
function actingUser(caller: Caller, requested: string | undefined, required: true): string;
function actingUser(caller: Caller, requested: string | undefined, required: false): string | undefined;
function actingUser(caller: Caller, requested: string | undefined, required: boolean): string | undefined {
  const given = requested === '' ? undefined : requested;
  if (caller.kind === 'user') {
    if (given !== undefined && given !== caller.principal.userId) throw new TremoloError('E_FORBIDDEN', 'A user token acts only as its own user: leave user_id empty');
    return caller.principal.userId;
  }
  if (given === undefined && required) throw new TremoloError('E_VALIDATION', 'A service acting for a user names it in user_id', { details: { field: 'user_id' } });
  return given;
}

export class GrpcServer {
  private readonly server: Server;
  private readonly tracing: Tracing;
  private readonly followers: VideoFollowers;
  private readonly health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  private readonly streams = new Set<ServerWritableStream<unknown, unknown>>();
  private boundPort = 0;

  constructor(private readonly deps: GrpcDeps) {
    const { settings } = deps;
    this.tracing = deps.tracing ?? noopTracing;
    this.server = new Server({
      'grpc.max_receive_message_length': settings.maxMessageBytes,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      // a client that vanishes without a FIN is noticed (its streams are freed)
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
    });
    const contract = loadContract();
    const service = (contract[SERVICE_NAME] as ServiceDefinition | undefined) ?? (() => {
      throw new Error(`${SERVICE_NAME} is missing from the contract`);
    })();
    this.server.addService(service, this.implementation());
    this.health.addToServer(this.server);
    new ReflectionService(contract).addToServer(this.server);
    this.followers = new VideoFollowers({ engine: deps.engine, clock: deps.clock, pollMs: settings.watchPollMs });
  }

  /** Starts listening; resolves with the port (GRPC_PORT=0 picks a free one). */
  async listen(): Promise<number> {
    const { host, port } = this.deps.settings;
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, this.credentials(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    return this.boundPort;
  }

  private credentials(): ServerCredentials {
    const { tls } = this.deps.settings;
    if (!tls) return ServerCredentials.createInsecure();
    return ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }], false);
  }

  get port(): number {
    return this.boundPort;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Graceful stop: health says NOT_SERVING, new calls are refused, open streams end with
   * UNAVAILABLE (`E_SHUTTING_DOWN`: resume elsewhere from the last offset), unary calls finish.
   */
  async close(timeoutMs: number): Promise<void> {
    this.health.setStatus('', 'NOT_SERVING');
    this.health.setStatus(SERVICE_NAME, 'NOT_SERVING');
    this.followers.close();
    const shuttingDown = toServiceError(new TremoloError('E_SHUTTING_DOWN', undefined, { retryAfter: 1 }));
    // 'error' sets the status the stream ends with (destroy() would end it without one)
    for (const call of this.streams) call.emit('error', shuttingDown);
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private implementation(): UntypedServiceImplementation {
    const { engine } = this.deps;
    return {
      GetVideos: this.unary<GetVideosRequest, unknown>('GetVideos', async (req, caller) => {
        const ids = req.ids ?? [];
        if (ids.length === 0) throw new TremoloError('E_VALIDATION', 'ids must hold 1 to 500 video ids', { details: { field: 'ids' } });
        const viewer = actingUser(caller, req.userId, false);
        const page = await engine.videosByIds(ids, viewer);
        const found = new Set(page.items.map((v) => v.id));
        return {
          videos: page.items.map((v) => videoMessage(this.deps.presentMedia(v))),
          missing: ids.filter((id) => !found.has(id)),
          degraded: page.degraded === true,
        };
      }),
      Like: this.unary<LikeRequest, unknown>('Like', async (req, caller) => likeReply(await engine.like(req.videoId ?? '', actingUser(caller, req.userId, true)))),
      Unlike: this.unary<LikeRequest, unknown>('Unlike', async (req, caller) => likeReply(await engine.unlike(req.videoId ?? '', actingUser(caller, req.userId, true)))),
      AddComment: this.unary<AddCommentRequest, unknown>('AddComment', async (req, caller) => {
        const r = await engine.addComment(req.videoId ?? '', actingUser(caller, req.userId, true), {
          text: req.text ?? '',
          ...(req.replyTo ? { replyTo: req.replyTo } : {}),
          ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
        });
        return { comment: commentMessage(r.comment), duplicate: r.duplicate, counters: r.counters };
      }),
      DeleteComment: this.unary<DeleteCommentRequest, unknown>('DeleteComment', async (req, caller) => {
        let userId = actingUser(caller, req.userId, false);
        if (userId === undefined) {
          // a service without a user moderates: it deletes as the video's owner may
          userId = (await engine.getVideo(videoOfComment(req.commentId))).value.ownerId;
        }
        const r = await engine.deleteComment(req.commentId ?? '', userId);
        return { deleted: r.deleted, counters: r.counters };
      }),
      Follow: this.unary<FollowRequest, unknown>('Follow', async (req, caller) => {
        const userId = actingUser(caller, req.userId, true);
        const r = req.unfollow ? await engine.unfollow(userId, req.targetId ?? '') : await engine.follow(userId, req.targetId ?? '');
        return { changed: r.changed };
      }),
      GetUser: this.unary<GetUserRequest, unknown>('GetUser', async (req) => {
        const read = await engine.profile(req.userId ?? '');
        return userMessage(read.value, read.degraded);
      }),
      WatchVideo: this.stream<WatchVideoRequest, VideoUpdate>('WatchVideo', async (call, caller) => {
        const userId = caller.kind === 'user' ? caller.principal.userId : undefined;
        await serveWatch(call, { engine, followers: this.followers }, userId);
      }),
      SubscribeInteractions: this.stream<SubscribeInteractionsRequest, InteractionBatchMessage>('SubscribeInteractions', async (call, caller) => {
        if (caller.kind !== 'service') throw new TremoloError('E_FORBIDDEN', 'SubscribeInteractions is for service tokens');
        await serveInteractions(call, { source: this.deps.interactions, clock: this.deps.clock, idleMs: this.deps.settings.watchPollMs });
      }),
    };
  }

  /**
   * Who calls: from `authorization: Bearer <token>` metadata. Users are rate limited as on REST.
   * The call's span (if sampled) records the user it acts as, never the token.
   */
  private async caller(metadata: Metadata, span?: SpanHandle): Promise<Caller> {
    const values = metadata.get('authorization');
    const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
    if (values.length > 1) throw new TremoloError('E_TOKEN_INVALID', 'Send one authorization entry');
    const caller = await this.deps.tokens.verifyCaller(bearerToken(header));
    if (span?.recording) span.set(caller.kind === 'user' ? { 'enduser.id': caller.principal.userId } : { 'tremolo.caller': 'service' });
    if (caller.kind === 'user') await this.deps.limits.consumeUser(caller.principal.userId);
    return caller;
  }

  /**
   * A unary method. The call's span is active while the token is checked and while `handle`
   * runs up to its first await (the active context is a synchronous scope: the engine call a
   * handler makes first is in it, as an HTTP handler's is).
   */
  private unary<Req, Res>(method: string, handle: (req: Req, caller: Caller) => Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      const { span, end } = this.callEnd(method, call.metadata);
      // `run` with no context (tracing off) just calls
      const inSpan = <T>(fn: () => T): T => this.tracing.run(span?.context, fn);
      void (async () => {
        if (deadlinePassed(call.getDeadline(), this.deps.clock)) {
          throw new TremoloError('E_REQUEST_TIMEOUT', 'The call\'s deadline passed before it started');
        }
        const caller = await inSpan(() => this.caller(call.metadata, span));
        return inSpan(() => handle(call.request, caller));
      })().then(
        (res) => {
          end(Status.OK);
          callback(null, res);
        },
        (err: unknown) => {
          const e = this.serviceError(err);
          end(e.code ?? Status.UNKNOWN, err);
          callback(e);
        },
      );
    };
  }

  private stream<Req, Res>(method: string, handle: (call: ServerWritableStream<Req, Res>, caller: Caller) => Promise<void>) {
    return (call: ServerWritableStream<Req, Res>) => {
      const held = call as ServerWritableStream<unknown, unknown>;
      const { span, end } = this.callEnd(method, call.metadata);
      void (async () => {
        if (this.streams.size >= this.deps.settings.maxStreams) {
          throw new TremoloError('E_BUSY', `This server serves ${this.deps.settings.maxStreams} streams at once (GRPC_MAX_STREAMS)`, { retryAfter: 1 });
        }
        this.streams.add(held);
        try {
          const caller = await this.tracing.run(span?.context, () => this.caller(call.metadata, span));
          await handle(call, caller);
        } finally {
          this.streams.delete(held);
        }
      })().then(
        () => {
          // a stream the client cancelled ends as CANCELLED for it
          end(call.cancelled ? Status.CANCELLED : Status.OK);
          if (!call.cancelled && !call.destroyed && !call.writableEnded) call.end();
        },
        (err: unknown) => {
          const e = this.serviceError(err);
          end(call.cancelled ? Status.CANCELLED : (e.code ?? Status.UNKNOWN), err);
          if (call.cancelled || call.destroyed || call.writableEnded) return;
          call.emit('error', e);
        },
      );
    };
  }

  /**
   * What a call records: its span (tracing on), and `end`, which ends the span with the call's
   * status code and observes its duration (the span's trace as the exemplar).
   */
  private callEnd(method: string, metadata: Metadata): { span: SpanHandle | undefined; end(code: number, err?: unknown): void } {
    const started = performance.now();
    const span = this.tracing.enabled ? this.callSpan(method, metadata) : undefined;
    return {
      span,
      end: (code, err) => {
        const metrics = this.deps.metrics;
        if (metrics) observe(metrics, metrics.grpcDuration, { method, code: Status[code] ?? String(code) }, (performance.now() - started) / 1000, span?.ids());
        if (span) this.endSpan(span, code, err);
      },
    };
  }

  /** The server span of one call, continuing the caller's `traceparent` metadata entry if it sent one. */
  private callSpan(method: string, metadata: Metadata): SpanHandle {
    const [traceparent] = metadata.get('traceparent');
    // several tracestate entries are one list, as several HTTP headers are
    const tracestate = metadata.get('tracestate').filter((v) => typeof v === 'string').join(',');
    return this.tracing.start(`${SERVICE_NAME}/${method}`, {
      kind: 'server',
      parent: this.tracing.extract(traceparent, tracestate) ?? 'root',
      attributes: { 'rpc.system': 'grpc', 'rpc.service': SERVICE_NAME, 'rpc.method': method },
    });
  }

  private endSpan(span: SpanHandle, code: number, err?: unknown): void {
    if (span.recording) {
      span.set({ 'rpc.grpc.status_code': code });
      if (SERVER_FAULTS.has(code)) span.fail(err ?? new Error(`gRPC status ${code}`));
    }
    span.end();
  }

  private serviceError(err: unknown) {
    const e = toServiceError(err);
    if (e.code === Status.INTERNAL) this.deps.onError(err, 'gRPC call failed');
    return e;
  }
}

function deadlinePassed(deadline: ReturnType<ServerUnaryCall<unknown, unknown>['getDeadline']>, clock: Pick<Clock, 'now'>): boolean {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && at <= clock.now();
}
