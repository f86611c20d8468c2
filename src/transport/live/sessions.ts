/**
 * Who is at the other end of each socket, and for how long: the handshake (the Origin, a
 * place under the per-address cap, the token, a place under the per-user cap), the count of
 * open sockets per address and per user, and token expiry, checked for every socket by one
 * interval on the injected Clock rather than a timer each.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket as TcpSocket } from 'node:net';
import type { TrustProxy } from '../../config.ts';
import type { Clock, TimerHandle } from '../../domain/clock.ts';
import type { Metrics } from '../../metrics.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { userRoom } from '../../protocol/live.ts';
import type { TokenService } from '../auth/tokens.ts';
import { addressKey, clientAddress, trustFunction, type TrustFn } from '../client-address.ts';
import type { OriginPolicy } from '../http/origins.ts';
import type { IoSocket } from './io.ts';

export interface SessionSettings {
  allowAnonymous: boolean;
  maxSocketsPerUser: number;
  /** Open sockets per client address (key) in this process, anonymous or not. */
  maxSocketsPerIp: number;
  /** Proxies whose X-Forwarded-For names the client (as for HTTP). Default: none. */
  trustProxy?: TrustProxy;
}

export interface SessionDeps {
  tokens: Pick<TokenService, 'verify'>;
  clock: Clock;
  /** Browser origins that may open sockets. */
  origins: OriginPolicy;
  settings: SessionSettings;
  metrics?: Metrics;
}

/** What sessions use of an engine.io connection. */
export interface EngineConnection {
  remoteAddress: string;
  request: IncomingMessage | null;
  transport: { socket?: { _socket?: TcpSocket } };
  /** The client's address key, set when the connection opens (before `request` is released). */
  clientAddress?: string;
}

/** How often expired tokens are looked for: their expiry is in whole seconds. */
const EXPIRY_CHECK_MS = 1000;

export class LiveSessions {
  private readonly trust: TrustFn | false;
  private readonly socketsPerUser = new Map<string, number>();
  /** Open sockets, and handshakes under way, per client address key. */
  private readonly socketsPerIp = new Map<string, number>();
  /** Engine connections whose Origin is not admitted; refused at the handshake with a code. */
  private readonly foreignOrigin = new WeakSet<object>();
  private readonly expiry = new Map<number, Set<IoSocket>>(); // second -> sockets whose token expires then
  private readonly expiryTimer: TimerHandle;

  constructor(private readonly deps: SessionDeps) {
    this.trust = trustFunction(deps.settings.trustProxy ?? { kind: 'off' });
    this.expiryTimer = deps.clock.setInterval(() => this.expireTokens(), EXPIRY_CHECK_MS);
    this.expiryTimer.unref?.();
  }

  /**
   * An engine.io connection opened. The client's address and the Origin are read now, while
   * the opening request is at hand (it is released just below). Browsers apply no CORS to
   * WebSockets, so this is the only Origin check a WebSocket gets.
   */
  readonly opened = (raw: EngineConnection): void => {
    raw.clientAddress = addressKey(clientAddress(raw.remoteAddress, raw.request?.headers['x-forwarded-for'], this.trust));
    const { origin, host } = raw.request?.headers ?? {};
    if (!this.deps.origins.admits(origin, host)) this.foreignOrigin.add(raw);
    releaseUpgradeRequest(raw);
  };

  /**
   * The handshake: a place under the client address's cap, then the token. The place is
   * taken at once and held while the token is checked, so a burst of concurrent handshakes
   * cannot all pass the check; it passes to the connection (`connected` counts it again
   * within the same tick) or is given back when the handshake fails.
   */
  async handshake(socket: IoSocket): Promise<void> {
    if (this.foreignOrigin.has(socket.conn)) throw new TremoloError('E_ORIGIN_NOT_ALLOWED', 'This origin may not open sockets here (CORS_ORIGINS)');
    const address = (socket.conn as unknown as EngineConnection).clientAddress ?? addressKey(socket.handshake.address);
    const held = this.socketsPerIp.get(address) ?? 0;
    if (held >= this.deps.settings.maxSocketsPerIp) {
      throw new TremoloError('E_TOO_MANY_CONNECTIONS', 'Too many open connections from this address');
    }
    socket.data.address = address;
    this.socketsPerIp.set(address, held + 1);
    try {
      await this.authenticate(socket);
    } finally {
      this.release(this.socketsPerIp, address);
    }
  }

  /** A socket passed the handshake: it counts against its address and user until it disconnects. */
  connected(socket: IoSocket): void {
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
  }

  /** Stops watching for expired tokens (shutdown). */
  close(): void {
    this.deps.clock.clearInterval(this.expiryTimer);
  }

  /** Shared by every socket (`this` is the socket), so a connection costs no closure of its own. */
  private readonly onDisconnect = ((sessions: LiveSessions) =>
    function (this: IoSocket): void {
      const { userId, tokenExp, address } = this.data;
      sessions.deps.metrics?.liveSockets.dec();
      sessions.release(sessions.socketsPerIp, address);
      if (userId !== undefined) {
        sessions.release(sessions.socketsPerUser, userId);
        if (tokenExp !== undefined) sessions.expiry.get(tokenExp)?.delete(this);
      }
    })(this);

  private async authenticate(socket: IoSocket): Promise<void> {
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

  private release(counts: Map<string, number>, key: string): void {
    const n = (counts.get(key) ?? 1) - 1;
    if (n <= 0) counts.delete(key);
    else counts.set(key, n);
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
