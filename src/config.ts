/**
 * Every setting tremolo reads, declared once: name, default, parser and meaning.
 * `loadConfig(env)` reads them all and validates them together, so a bad value stops
 * start-up with one message naming each variable and what it allows. The configuration
 * table in docs/operations.md is generated from SETTINGS (`tremolo config`) and a test
 * keeps the two in step.
 *
 * No secret has a built-in value. An unset JWT_SECRET or MEDIA_SECRET is replaced by a
 * random one only where nothing else must agree on it (one process on the memory store,
 * not production); `generatedSecrets` names them so start-up can warn.
 */
import { createPrivateKey, createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { INTERACTION_ENTRY_MAX } from './storage/interactions.ts';
import { parseSampleRules } from './telemetry/sampling.ts';
import type { TokenSettings } from './transport/auth/tokens.ts';
import type { TaggerOptions } from './workers/tasks/tag/types.ts';

type Parser<T> = (raw: string) => T;

interface Setting<T> {
  readonly env: string;
  readonly default: string;
  readonly parse: Parser<T>;
  readonly doc: string;
  /** A secret: its value is never repeated in an error message. */
  readonly secret?: boolean;
}

class ConfigValueError extends Error {}

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigValueError(`an integer from ${min} to ${max}`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigValueError(`an integer from ${min} to ${max}`);
    return n;
  };

const num =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new ConfigValueError(`a number from ${min} to ${max}`);
    }
    return n;
  };

const oneOf =
  <const T extends string>(...allowed: T[]): Parser<T> =>
  (raw) => {
    if (!(allowed as string[]).includes(raw)) throw new ConfigValueError(`one of ${allowed.join(', ')}`);
    return raw as T;
  };

const bool: Parser<boolean> = (raw) => {
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigValueError('true or false');
};

const str: Parser<string> = (raw) => raw;

/** TRACE_SAMPLE_RULES, checked here so a bad rule stops start-up; the string is kept (telemetry/sampling.ts parses it). */
const sampleRules: Parser<string> = (raw) => {
  try {
    parseSampleRules(raw);
  } catch (err) {
    throw new ConfigValueError(`comma-separated pattern=ratio rules (${(err as Error).message})`);
  }
  return raw;
};
/** Three comma-separated numbers from `min` to `max` (a per-channel RGB triple). */
const rgb =
  (min: number, max: number): Parser<readonly [number, number, number]> =>
  (raw) => {
    const v = raw.split(',').map((x) => Number(x.trim()));
    if (v.length !== 3 || raw.split(',').some((x) => x.trim() === '') || v.some((x) => !Number.isFinite(x) || x < min || x > max)) {
      throw new ConfigValueError(`three comma-separated numbers from ${min} to ${max} (R,G,B)`);
    }
    return [v[0]!, v[1]!, v[2]!];
  };

const url =
  (...protocols: string[]): Parser<string> =>
  (raw) => {
    try {
      const u = new URL(raw);
      if (protocols.length && !protocols.includes(u.protocol)) throw new Error();
      return raw;
    } catch {
      throw new ConfigValueError(`a URL (${protocols.join(' or ')})`);
    }
  };

const optional =
  <T>(p: Parser<T>): Parser<T | undefined> =>
  (raw) =>
    raw === '' ? undefined : p(raw);

/** Durations as "500ms", "5s", "2m", "1h" or plain milliseconds. */
const duration =
  (minMs: number): Parser<number> =>
  (raw) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
    if (!m) throw new ConfigValueError(`a duration such as 500ms, 5s, 2m (at least ${minMs} ms)`);
    const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
    const ms = Math.round(Number(m[1]) * factor);
    if (ms < minMs) throw new ConfigValueError(`a duration of at least ${minMs} ms`);
    return ms;
  };

/**
 * Which peers' X-Forwarded-For is believed: nobody (`off`), the nearest `hops` proxies, or
 * proxies at these addresses and ranges (IPs, CIDRs, or `loopback`, `linklocal`, `uniquelocal`).
 */
export type TrustProxy = { kind: 'off' } | { kind: 'hops'; hops: number } | { kind: 'ranges'; ranges: string[] };

const TRUST_PROXY_ALLOWED = 'off, a hop count from 1 to 16, or a comma list of IP addresses, CIDR ranges, loopback, linklocal, uniquelocal';
const RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

const trustProxy: Parser<TrustProxy> = (raw) => {
  const text = raw.trim().toLowerCase();
  if (text === '' || text === 'off' || text === 'false') return { kind: 'off' };
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    if (hops < 1 || hops > 16) throw new ConfigValueError(TRUST_PROXY_ALLOWED);
    return { kind: 'hops', hops };
  }
  const ranges = text.split(',').map((r) => r.trim());
  for (const range of ranges) {
    if (RANGE_NAMES.includes(range)) continue;
    const [address = '', prefix, extra] = range.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined) throw new ConfigValueError(TRUST_PROXY_ALLOWED);
  }
  return { kind: 'ranges', ranges };
};

/** Shared secrets: unset ('') or at least `minBytes` bytes (a short one is guessable). */
const secretValue =
  (minBytes: number): Parser<string> =>
  (raw) => {
    if (raw !== '' && Buffer.byteLength(raw, 'utf8') < minBytes) throw new ConfigValueError(`at least ${minBytes} bytes`);
    return raw;
  };

/** The JWT algorithm of a token key: RSA -> RS256, Ed25519 -> EdDSA, P-256 -> ES256; else undefined. */
export function tokenKeyAlg(key: KeyObject): 'RS256' | 'EdDSA' | 'ES256' | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

/** PEM keys for tokens: only those `tokenKeyAlg` knows. */
const pemKey =
  (kind: 'public' | 'private'): Parser<string> =>
  (raw) => {
    let key: KeyObject;
    try {
      key = kind === 'public' ? createPublicKey(raw) : createPrivateKey(raw);
    } catch {
      throw new ConfigValueError(`a PEM ${kind === 'public' ? 'public key (SPKI)' : 'private key (PKCS#8)'}`);
    }
    if (!tokenKeyAlg(key)) throw new ConfigValueError('an RSA, Ed25519 or P-256 key');
    return raw;
  };

/** Comma-separated browser origins (`scheme://host[:port]`, nothing after). */
const origins: Parser<string[]> = (raw) => {
  const list = raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const o of list) {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      // reported below
    }
    if (origin !== o.replace(/\/$/, '') || origin === 'null') throw new ConfigValueError('comma-separated origins such as https://app.example.com');
  }
  return list.map((o) => o.replace(/\/$/, ''));
};

/** Comma-separated user ids (TSIDs). */
const userIds: Parser<string[]> = (raw) => {
  const list = raw
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  if (list.some((id) => !/^[0-9A-HJKMNP-TV-Z]{13}$/.test(id))) throw new ConfigValueError('comma-separated user ids (13-character TSIDs)');
  return list;
};
/** PEM text, given inline or as the path of a file holding it (read once, at start). */
const pemOrFile =
  (what: string): Parser<string> =>
  (raw) => {
    let pem = raw;
    if (!raw.includes('-----BEGIN')) {
      try {
        pem = readFileSync(raw, 'utf8');
      } catch {
        throw new ConfigValueError(`a PEM ${what} or the path of a readable PEM file`);
      }
    }
    try {
      if (what === 'certificate') new X509Certificate(pem);
      else createPrivateKey(pem);
    } catch {
      throw new ConfigValueError(`a PEM ${what} or the path of a readable PEM file`);
    }
    return pem;
  };

const def = <T>(env: string, dflt: string, parse: Parser<T>, doc: string, opts: { secret?: boolean } = {}): Setting<T> => ({
  env,
  default: dflt,
  parse,
  doc,
  ...(opts.secret ? { secret: true } : {}),
});

export const SETTINGS = {
  // server
  host: def('HOST', '0.0.0.0', str, 'Interface the HTTP and Socket.IO server listens on.'),
  port: def('PORT', '3000', int(0, 65535), 'Port for HTTP and Socket.IO (0 picks a free port).'),
  listenBacklog: def('LISTEN_BACKLOG', '4096', int(1, 65535), 'Connections the kernel may hold for PORT before the process accepts them (capped by `net.core.somaxconn`). Beyond it new connections are dropped and their clients retry after 1, 3, 7 s: a reconnect storm, or a process that is briefly short of CPU, then costs seconds per connection (Node\'s own default is 511).'),
  nodeId: def('NODE_ID', '0', int(0, 1023), 'This process\'s node id (0-1023), part of every TSID it issues; give each process its own.'),
  logLevel: def('LOG_LEVEL', 'info', oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'pino log level.'),
  shutdownTimeoutMs: def('SHUTDOWN_TIMEOUT', '10s', duration(100), 'Longest graceful shutdown before the process exits anyway.'),
  bodyLimitBytes: def('BODY_LIMIT_BYTES', '65536', int(1024), 'Largest JSON request body accepted.'),
  trustProxy: def('TRUST_PROXY', 'off', trustProxy, 'Reverse proxies whose `X-Forwarded-For` names the client: `off` (the peer is the client), a hop count (the nearest N proxies), or a comma list of their addresses and CIDR ranges (`loopback`, `linklocal`, `uniquelocal` name the usual ones). Every per-IP limit keys on the client found this way.'),
  publicUrl: def('PUBLIC_URL', '', optional(url('http:', 'https:')), 'Base URL clients reach this server at, used in signed media URLs (defaults to the request\'s host).'),
  nodeEnv: def('NODE_ENV', '', str, '`production` refuses to start without JWT_SECRET and MEDIA_SECRET instead of making random ones.'),
  tlsCert: def('TLS_CERT', '', optional(pemOrFile('certificate')), 'TLS certificate chain (PEM, or the path of a PEM file). With TLS_KEY, PORT serves HTTPS offering HTTP/2 and HTTP/1.1 by ALPN (Socket.IO included), and GRPC_PORT serves gRPC over TLS.'),
  tlsKey: def('TLS_KEY', '', optional(pemOrFile('private key')), 'Private key of TLS_CERT (PEM, or the path of a PEM file).', { secret: true }),
  http2Cleartext: def('HTTP2_CLEARTEXT', 'false', bool, 'Without TLS: serve HTTP/2 in clear text with prior knowledge (h2c) instead of HTTP/1.1, for use behind a proxy that terminates TLS and speaks h2c. Socket.IO then works with HTTP long polling only (no WebSocket over h2c).'),
  corsOrigins: def('CORS_ORIGINS', '', origins, 'Comma-separated browser origins (https://app.example.com) allowed to call the REST API and open sockets from another site; unset: same origin only.'),

  // storage
  storage: def('STORAGE', 'memory', oneOf('memory', 'redis'), 'Storage driver: `memory` (embedded, single process) or `redis`.'),
  redisUrl: def('REDIS_URL', 'redis://127.0.0.1:6379', url('redis:', 'rediss:'), 'Redis connection URL (STORAGE=redis).'),
  redisCluster: def('REDIS_CLUSTER', '', optional(str), 'Comma-separated host:port seed nodes; when set, tremolo talks to a Redis Cluster instead of REDIS_URL.'),
  redisPrefix: def('REDIS_PREFIX', 'tremolo:', str, 'Prefix of every Redis key, so several deployments can share one Redis.'),
  storageTimeoutMs: def('STORAGE_TIMEOUT', '2s', duration(10), 'A storage call slower than this counts as a failure for the circuit breaker.'),
  redisAutoPipeline: def('REDIS_AUTO_PIPELINE', 'false', bool, 'Send the Redis commands issued in one event-loop turn together, in one write per connection (ioredis auto-pipelining): many concurrent actors\' storage calls cost one system call instead of one each, and while one such batch is out the next one gathers. Off by default until a rare unhandled "Command timed out" seen once in a Redis outage test with it on is explained (docs/storage.md).'),
  redisWaitReplicas: def('REDIS_WAIT_REPLICAS', '0', int(0, 16), 'Replicas (of the master that took it) every Redis write must reach before it is acknowledged: each write is followed by one `WAIT N REDIS_WAIT_TIMEOUT_MS` on the same node, so a failover loses nothing acknowledged. Fewer within the timeout fail the turn with 503 `E_STORAGE_UNAVAILABLE` (the write may have applied; retries are idempotent). 0: off (asynchronous replication).'),
  redisWaitTimeoutMs: def('REDIS_WAIT_TIMEOUT_MS', '500', int(1, 60_000), 'How long a write waits for REDIS_WAIT_REPLICAS replicas, in milliseconds; must be below STORAGE_TIMEOUT.'),

  // auth
  jwtSecret: def('JWT_SECRET', '', secretValue(32), 'HS256 secret that signs and verifies access tokens, at least 32 bytes. Unset: a random one per process (memory store only, with a warning: tokens do not survive a restart); required with STORAGE=redis or NODE_ENV=production.', { secret: true }),
  jwtIssuer: def('JWT_ISSUER', 'tremolo', str, 'Issuer (`iss`) put in and required of access tokens.'),
  jwtAudience: def('JWT_AUDIENCE', 'tremolo', str, 'Audience (`aud`) put in and required of access tokens.'),
  jwtTtlS: def('JWT_TTL_S', '3600', int(10), 'Lifetime of issued access tokens in seconds.'),
  jwtPublicKey: def('JWT_PUBLIC_KEY', '', optional(pemKey('public')), 'PEM public key (SPKI) to verify RS256/EdDSA tokens issued elsewhere, instead of HS256.'),
  jwksUrl: def('JWT_JWKS_URL', '', optional(url('http:', 'https:')), 'JWKS URL to verify RS256/EdDSA tokens issued elsewhere, instead of HS256.'),
  jwtPrivateKey: def('JWT_PRIVATE_KEY', '', optional(pemKey('private')), 'PEM private key (PKCS#8; RSA, Ed25519 or P-256) that signs access tokens (RS256, EdDSA or ES256; `kid` = its RFC 7638 thumbprint) instead of JWT_SECRET; verified with its own public half, and with JWT_PUBLIC_KEY/JWT_JWKS_URL for tokens issued elsewhere. Without it, those modes answer local logins with `E_LOCAL_LOGIN_DISABLED`.', { secret: true }),
  loginRatePerMin: def('LOGIN_RATE_PER_MIN', '10', int(1), 'Login attempts allowed per client IP each minute, whatever their outcome.'),
  loginFailsPerHandleIp: def('LOGIN_FAILS_PER_HANDLE_IP', '5', int(1), 'Failed logins to one handle from one client IP (counted over a day) before each further attempt from there must wait: 1 s, then 2 s, 4 s, ... up to LOGIN_DELAY_MAX. A success clears them.'),
  loginFailsPerHandle: def('LOGIN_FAILS_PER_HANDLE', '50', int(1), 'Failed logins to one handle from anywhere (counted over a day) before attempts to it must wait the same growing delays, except from addresses that logged in to it before.'),
  loginDelayMaxMs: def('LOGIN_DELAY_MAX', '15m', duration(1000), 'Longest wait imposed between login attempts after repeated failures.'),
  signupRatePerHour: def('SIGNUP_RATE_PER_HOUR', '60', int(1), 'Sign-ups allowed per client IP each hour (each costs a password hash).'),
  passwordHashConcurrency: def('PASSWORD_HASH_CONCURRENCY', '2', int(1, 64), 'Password hashes (sign-ups and logins) computed at once; the rest wait, so hashing never takes every thread of the libuv pool.'),
  passwordHashQueue: def('PASSWORD_HASH_QUEUE', '16', int(0), 'Sign-ups, and separately logins, that may wait for a hash; beyond it 503 `E_BUSY` with Retry-After. Logins are hashed first.'),

  // limits
  handleMaxChars: def('HANDLE_MAX_CHARS', '24', int(3, 64), 'Longest user handle.'),
  titleMaxChars: def('TITLE_MAX_CHARS', '150', int(1, 10_000), 'Longest video title.'),
  descriptionMaxChars: def('DESCRIPTION_MAX_CHARS', '2000', int(0, 100_000), 'Longest video description.'),
  commentMaxChars: def('COMMENT_MAX_CHARS', '500', int(1, 100_000), 'Longest comment, in characters, after trimming.'),
  rateIpPerMin: def('RATE_IP_PER_MIN', '1200', int(1), 'HTTP requests allowed per client IP each minute.'),
  rateUserPerMin: def('RATE_USER_PER_MIN', '600', int(1), 'HTTP requests allowed per signed-in user each minute.'),
  rateStore: def('RATE_STORE', 'memory', oneOf('memory', 'redis'), 'Where rate-limit counters live: per process (`memory`) or shared (`redis`).'),

  // actors
  actorIdleMs: def('ACTOR_IDLE_MS', '60000', int(10), 'An actor with no message for this long is passivated.'),
  actorMaxActive: def('ACTOR_MAX_ACTIVE', '100000', int(1), 'Most actors held in memory; the least recently used above it are evicted.'),
  actorMaxBatch: def('ACTOR_MAX_BATCH', '512', int(1, 100_000), 'Most messages one actor turn applies in a single storage call.'),
  actorMailboxLimit: def('ACTOR_MAILBOX_LIMIT', '10000', int(1), 'Messages an actor may have queued; above it `E_BUSY`.'),
  actorReadStaleMs: def('ACTOR_READ_STALE_MS', '1000', int(0), 'A read never serves actor state older than this; older state is reloaded from storage.'),
  viewDedupS: def('VIEW_DEDUP_S', '3600', int(0), 'Repeated views of one video within this many seconds count once: per user when signed in; per connection and per client IP when anonymous.'),
  eventLogMax: def('EVENT_LOG_MAX', '1000', int(10), 'Events kept per video for recovery after a reconnect.'),
  commentTopHalfLifeS: def(
    'COMMENT_TOP_HALF_LIFE_S',
    '21600',
    int(60),
    'Comment `top` ordering: ranks by log2(1 + likes) + createdAt / this, so a comment this many seconds older needs twice the likes to rank level.',
  ),
  commentTopSnapshotS: def('COMMENT_TOP_SNAPSHOT_S', '600', int(10), 'How long the cursors of a `top` comment ranking stay valid (the ranking is frozen on its first page).'),
  commentTopMax: def('COMMENT_TOP_MAX', '1000', int(10, 100_000), 'Most top-level comments one `top` ranking holds (the highest ranked).'),

  // live
  liveAllowAnonymous: def('LIVE_ALLOW_ANONYMOUS', 'true', bool, 'Sockets without a token may watch videos (writes always need a user).'),
  liveCounterIntervalMs: def('LIVE_COUNTER_INTERVAL_MS', '100', int(10), 'Shortest interval between counter events of one video.'),
  liveDeliveryBudget: def('LIVE_DELIVERY_BUDGET', '50000', int(100), 'Counter messages per second this process may deliver; big rooms get longer intervals to stay inside it.'),
  liveBroadcastSlice: def('LIVE_BROADCAST_SLICE', '1000', int(0), 'Slice size for counter updates to big rooms: their sockets get updates in slices of this many, spread evenly over the room\'s interval, so no socket waits behind the rest and acks are not held up behind one broadcast; 0 writes a whole room at once.'),
  liveCounterCoalesce: def('LIVE_COUNTER_COALESCE', 'true', bool, 'Coalesce counter events per video (see LIVE_COUNTER_INTERVAL_MS); `false` sends one event per committed write, for comparison only (bench/fanout.ts).'),
  socketParser: def('SOCKET_PARSER', 'json', oneOf('json', 'msgpack'), 'Socket.IO wire format.'),
  socketMaxPayloadBytes: def('SOCKET_MAX_PAYLOAD_BYTES', '16384', int(256), 'Largest socket message accepted.'),
  socketMaxInflight: def('SOCKET_MAX_INFLIGHT', '10000', int(1), 'Client events this process works on at once, over all sockets; beyond it new ones are refused at once with `E_BUSY` (retry after 1 s) instead of queueing behind the rest: under overload the events it takes are still answered in time, rather than every one late.'),
  socketEventsPerSec: def('SOCKET_EVENTS_PER_SEC', '20', int(1), 'Client events allowed per socket each second.'),
  userEventsPerSec: def('USER_EVENTS_PER_SEC', '50', int(1), 'Client events allowed per user (all their sockets) each second.'),
  socketMaxWatches: def('SOCKET_MAX_WATCHES', '50', int(1), 'Videos one socket may watch at once.'),
  userMaxSockets: def('USER_MAX_SOCKETS', '10', int(1), 'Open sockets allowed per user in this process.'),
  socketMaxPerIp: def('SOCKET_MAX_PER_IP', '100', int(1), 'Open sockets (anonymous or signed in) allowed per client IP in this process; IPv6 clients count per /64.'),

  // feed and cache
  fanoutPushMaxFollowers: def('FANOUT_PUSH_MAX_FOLLOWERS', '10000', int(0), 'Authors with at most this many followers push new posts into inboxes; above it they are pulled at read time.'),
  feedInboxMax: def('FEED_INBOX_MAX', '1000', int(10), 'Entries kept in each user\'s feed inbox.'),
  fanoutBatch: def('FANOUT_BATCH', '500', int(1), 'Inboxes written per storage call during fan-out.'),
  fanoutQueueMax: def('FANOUT_QUEUE_MAX', '10000', int(1), 'New posts whose fan-out may wait at once in the durable fan-out queue (all processes together, in progress included); above it posting answers 503 `E_BUSY` with Retry-After. A warning is logged from 80% of it.'),
  fanoutLeaseMs: def('FANOUT_LEASE', '30s', duration(100), 'A fan-out whose process has not reported progress (one per FANOUT_BATCH page) for this long is taken over by another process, from the page it reached.'),
  fanoutPollMs: def('FANOUT_POLL', '1s', duration(10), 'How often a process looks for fan-out work queued by others or left by a dead process (and samples the lag metrics); its own posts start at once.'),
  forYouSourceSize: def('FORYOU_SOURCE_SIZE', '100', int(1, 1000), 'Candidates each For You source (following, interest, similar, trending, fresh) may bring to a page.'),
  forYouSourceDeadlineMs: def('FORYOU_SOURCE_DEADLINE_MS', '50', int(1, 10_000), 'How long a For You page waits for each candidate source; a later source adds nothing to that page.'),
  forYouInterestSources: def('FORYOU_INTEREST_SOURCES', '4', int(1, 50), 'Strongest interests (tags, authors) a For You page reads candidates from.'),
  forYouMaxPerAuthor: def('FORYOU_MAX_PER_AUTHOR', '2', int(1), 'Videos of one author in a For You page.'),
  forYouMaxPerTag: def('FORYOU_MAX_PER_TAG', '4', int(1), 'Videos carrying one tag in a For You page.'),
  forYouExploreShare: def('FORYOU_EXPLORE_SHARE', '0.1', num(0, 1), 'Share of each For You page kept for fresh videos with few impressions (at least one place when above 0).'),
  forYouFreshImpressions: def('FORYOU_FRESH_IMPRESSIONS', '200', int(1), 'Impressions after which a video leaves the For You exploration pool.'),
  forYouFreshPoolMax: def('FORYOU_FRESH_POOL_MAX', '2000', int(1), 'Videos in the exploration pool; the oldest leave first.'),
  forYouSeenMax: def('FORYOU_SEEN_MAX', '5000', int(10), 'Videos remembered per viewer as already shown (never shown again while remembered); the oldest go first.'),
  forYouSeenTtlS: def('FORYOU_SEEN_TTL_S', '604800', int(60), 'How long a shown video stays in a viewer\'s seen filter.'),
  forYouInterestHalfLifeS: def('FORYOU_INTEREST_HALF_LIFE_S', '604800', int(60), 'A viewer\'s interest in a tag or author halves every this many seconds without new signals.'),
  forYouInterestsMax: def('FORYOU_INTERESTS_MAX', '200', int(1), 'Interest weights kept per viewer; the weakest go first.'),
  forYouEngagedMax: def('FORYOU_ENGAGED_MAX', '50', int(1), 'Recent likes and finished watches kept per viewer, and recent engagers per video, for co-engagement.'),
  forYouSimilarMax: def('FORYOU_SIMILAR_MAX', '300', int(1), 'Co-engaged videos kept per viewer (the strongest).'),
  forYouStateTtlS: def('FORYOU_STATE_TTL_S', '2592000', int(60), 'A viewer\'s For You state (interests, seen filter, co-engagement) goes after this long without a page or a signal.'),
  forYouSubjectsMax: def('FORYOU_SUBJECTS_MAX', '100000', int(1), 'Viewers (users and anonymous sessions) whose For You state the memory store keeps; the least recently active go first.'),
  forYouSkipMs: def('FORYOU_SKIP_MS', '3000', int(0, 600_000), 'A watch report of less than this many ms watched, not completed, counts as a skip for For You when no later report of the same viewer and video follows within 2 x PROGRESS_INTERVAL and the viewer neither liked nor finished it; 0 turns derived skips off.'),
  forYouSkipPendingMax: def('FORYOU_SKIP_PENDING_MAX', '10000', int(1), 'Skip checks a process keeps waiting at once; above it the oldest is dropped (`tremolo_foryou_skip_checks_total{outcome="dropped"}`).'),
  forYouLearnQueueMax: def('FORYOU_LEARN_QUEUE_MAX', '100000', int(1), 'For You signals (likes, unlikes, views, finished watches) a process keeps waiting to be learned, off the interactions\' ack path; above it the arriving signal is not learned (`tremolo_foryou_signals_shed_total`, a warning at most every 10 s). The interactions themselves are always stored.'),
  forYouSeed: def('FORYOU_SEED', '1', int(0, 2 ** 32 - 1), 'Seeds the For You exploration order: the same seed and state give the same pages.'),
  cacheMaxEntries: def('CACHE_MAX_ENTRIES', '50000', int(1), 'Entries in the in-process read cache.'),
  cacheTtlMs: def('CACHE_TTL_MS', '5000', int(1), 'Lifetime of a cached read.'),
  cacheNegativeTtlMs: def('CACHE_NEGATIVE_TTL_MS', '1000', int(1), 'Lifetime of a cached not-found.'),

  // direct messages
  dmGroupMax: def('DM_GROUP_MAX', '32', int(2, 1000), 'Most members of a group conversation, its creator included.'),
  dmTextMaxChars: def('DM_TEXT_MAX_CHARS', '2000', int(1, 100_000), 'Longest direct message, in characters, after trimming.'),
  dmDeleteWindowS: def('DM_DELETE_WINDOW_S', '120', int(0), 'How long after sending a message its sender may delete it for everyone.'),
  dmLogMax: def('DM_LOG_MAX', '10000', int(10), 'Entries kept in each conversation\'s log: history and offline sync reach back this far (older ones get a snapshot).'),
  dmSyncPage: def('DM_SYNC_PAGE', '100', int(1, 10_000), 'Log entries per conversation in one `dm:sync` reply (and per catch-up read); the rest follow as `dm:events`.'),
  dmTypingIntervalMs: def('DM_TYPING_INTERVAL_MS', '1000', int(0), 'One typing indicator per user and conversation per this interval; more are dropped (`sent: false`).'),
  // social: notifications inbox, blocks, mentions, moderation
  inboxMax: def('INBOX_MAX', '500', int(1, 100_000), 'Entries kept in each user\'s notifications inbox; the least recently updated go first.'),
  inboxWindowMs: def('INBOX_WINDOW', '24h', duration(1000), 'Notifications of one type about one target (a video, a comment, the user) within this long of the first fold into one inbox entry ("ana and 14 others liked your video").'),
  inboxActorsKept: def('INBOX_ACTORS_KEPT', '5', int(1, 50), 'Latest actors an inbox entry names; `count` says how many notifications it folds.'),
  blocksMax: def('BLOCKS_MAX', '1000', int(1), 'Users one user may block; beyond it 409 `E_BLOCK_LIMIT`.'),
  mentionsMax: def('MENTIONS_MAX', '10', int(0, 100), 'Distinct `@handle`s resolved (and notified) per comment or description; further ones stay plain text.'),
  reportsOpenMax: def('REPORTS_OPEN_MAX', '100000', int(1), 'Open reports kept; beyond it new reports get 429 `E_QUEUE_FULL` until operators resolve some.'),
  adminUsers: def('ADMIN_USERS', '', userIds, 'Comma-separated user ids (not handles: ids never change hands) of operators, who list reports and hide or restore videos and comments. Tokens with a `role: "admin"` (or `roles` containing it) claim are operators too.'),
  moderationWordsFile: def('MODERATION_WORDS_FILE', '', str, 'Sensitive-word list (`[<category> reject|mask]` sections, one word a line) applied to handles, titles, descriptions, comments and OCR text; empty: the shipped config/sensitive-words.txt; `none`: no filtering.'),

  // media
  dataDir: def('DATA_DIR', '.data', str, 'Directory for uploads, media and (memory driver) nothing else.'),
  mediaUrlTtlS: def('MEDIA_URL_TTL_S', '300', int(1), 'Lifetime of signed media URLs.'),
  mediaSecret: def('MEDIA_SECRET', '', secretValue(32), 'HMAC secret for signed media URLs, at least 32 bytes. Unset: as JWT_SECRET (random per process on the memory store; required with STORAGE=redis or NODE_ENV=production).', { secret: true }),
  uploadMaxBytes: def('UPLOAD_MAX_BYTES', '524288000', int(1), 'Largest upload.'),
  uploadQuotaBytes: def('UPLOAD_QUOTA_BYTES', '2147483648', int(1), 'Total upload bytes allowed per user.'),
  uploadExpiryS: def('UPLOAD_EXPIRY_S', '86400', int(60), 'Unfinished uploads are removed after this many seconds.'),
  videoMaxSeconds: def('VIDEO_MAX_SECONDS', '600', int(1), 'Longest video accepted.'),
  workerThreads: def('WORKER_THREADS', '2', int(1, 64), 'Worker threads in the media pool.'),
  workerMaxQueue: def('WORKER_MAX_QUEUE', '32', int(1), 'Media tasks that may wait for a worker; above it uploads get 429.'),
  jobTimeoutMs: def('JOB_TIMEOUT', '10m', duration(1000), 'Longest a media job may run.'),
  jobMaxAttempts: def('JOB_MAX_ATTEMPTS', '3', int(1, 100), 'Attempts before an interrupted job is marked failed.'),
  jobLeaseMs: def('JOB_LEASE', '30s', duration(500), 'A running job\'s lease; the running process renews it, another takes over when it lapses.'),
  ffmpegPath: def('FFMPEG_PATH', '', optional(str), 'ffmpeg binary, a path or a command name (default: `ffmpeg` on PATH); 5.1 or newer, else media processing is off.'),
  mediaStore: def('MEDIA_STORE', 'file', oneOf('file', 's3'), 'Where uploads and media live: `file` (under DATA_DIR, one machine or a shared disk) or `s3` (the S3_* bucket: any process takes any upload, runs any job and serves any video, sharing only storage and the bucket).'),
  s3Endpoint: def('S3_ENDPOINT', '', optional(url('http:', 'https:')), 'S3 API endpoint for MEDIA_STORE=s3 (MinIO, Ceph, R2, ...); unset: AWS S3 in S3_REGION.'),
  s3Region: def('S3_REGION', 'us-east-1', str, 'Region of the S3 bucket (and of its presigned URLs).'),
  s3Bucket: def('S3_BUCKET', '', optional(str), 'Bucket of uploads (`uploads/`) and media (`media/`) with MEDIA_STORE=s3; it must exist.'),
  s3AccessKeyId: def('S3_ACCESS_KEY_ID', '', optional(str), 'Access key id for the bucket; required with MEDIA_STORE=s3.', { secret: true }),
  s3SecretAccessKey: def('S3_SECRET_ACCESS_KEY', '', optional(str), 'Secret access key for the bucket; required with MEDIA_STORE=s3.', { secret: true }),
  s3ForcePathStyle: def('S3_FORCE_PATH_STYLE', 'false', bool, 'Address the bucket as `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>` (MinIO and most self-hosted servers need `true`).'),
  mediaDelivery: def('MEDIA_DELIVERY', 'redirect', oneOf('redirect', 'proxy'), 'With MEDIA_STORE=s3, how a signed `/media/*` URL is answered: `redirect` (302 to a presigned bucket URL; playlists are still served here, their URIs signed) or `proxy` (this process streams the object, Range included).'),
  mediaPresignTtlS: def('MEDIA_PRESIGN_TTL_S', '60', int(1, 604_800), 'Lifetime of the presigned bucket URLs `/media/*` redirects to (MEDIA_DELIVERY=redirect); short, as the signed URL before it is what clients keep.'),
  uploadLockTtlMs: def('UPLOAD_LOCK_TTL', '10s', duration(1000), 'Lifetime of an upload\'s lock in Redis (STORAGE=redis): the holding request renews it every third of it; a crashed holder\'s lock lapses after it.'),
  ffprobePath: def('FFPROBE_PATH', '', optional(str), 'ffprobe binary, a path or a command name (default: `ffprobe` on PATH); 5.1 or newer, else media processing is off.'),

  // tagging
  taggerDevice: def('TAGGER_DEVICE', 'cpu', oneOf('cpu', 'cuda'), 'Where ONNX models run; `cuda` falls back to CPU with a warning when unavailable.'),
  taggerThreads: def('TAGGER_THREADS', '1', int(1, 64), 'Intra-op threads per ONNX session.'),
  taggerClassifierModel: def('TAGGER_CLASSIFIER_MODEL', '', optional(str), 'Path of an optional ONNX image classifier taking float32 `[1,3,size,size]` RGB; set with TAGGER_CLASSIFIER_LABELS, or neither (no classifier).'),
  taggerClassifierLabels: def('TAGGER_CLASSIFIER_LABELS', '', optional(str), 'Labels file of the classifier, one label a line, in output order.'),
  taggerClassifierSize: def('TAGGER_CLASSIFIER_SIZE', '224', int(8, 4096), 'Square input size of the classifier.'),
  taggerClassifierMean: def('TAGGER_CLASSIFIER_MEAN', '0.485,0.456,0.406', rgb(0, 1), 'Per-channel mean (R,G,B, for pixels scaled to 0..1) of the classifier input.'),
  taggerClassifierStd: def('TAGGER_CLASSIFIER_STD', '0.229,0.224,0.225', rgb(0.001, 10), 'Per-channel std (R,G,B, for pixels scaled to 0..1) of the classifier input.'),
  taggerClassifierTopK: def('TAGGER_CLASSIFIER_TOP_K', '3', int(1, 100), 'Most classifier labels kept per video (probabilities averaged over keyframes).'),
  taggerClassifierThreshold: def('TAGGER_CLASSIFIER_THRESHOLD', '0.5', num(0, 1), 'Least probability for a classifier label to become a tag; outputs that are not probabilities get a softmax.'),

  // behaviour analytics
  clickhouseUrl: def('CLICKHOUSE_URL', '', optional(url('http:', 'https:')), 'ClickHouse HTTP endpoint (http://user:password@host:8123) of the behaviour log; when set, interactions are exported there and creator analytics are answered from it. 18.16 or newer.'),
  clickhouseDatabase: def('CLICKHOUSE_DATABASE', 'tremolo', str, 'ClickHouse database of the behaviour log (created at start, with its migrations).'),
  natsUrl: def('NATS_URL', '', optional(url('nats:', 'tls:')), 'NATS server (nats://host:4222) with JetStream; when set, interactions are also published there for real-time consumers.'),
  natsStream: def('NATS_STREAM', 'TREMOLO_INTERACTIONS', str, 'JetStream stream the interactions go to (created when missing, subjects `<NATS_SUBJECT>.>`).'),
  natsSubject: def('NATS_SUBJECT', 'tremolo.interactions', str, 'Subject prefix: each event is published to `<NATS_SUBJECT>.<type>` with `Nats-Msg-Id` = its id.'),
  exportInProcess: def('EXPORT_IN_PROCESS', 'true', bool, 'Run the exporter inside the server when a sink (CLICKHOUSE_URL, NATS_URL) is set; `false` when `tremolo export` runs as its own process.'),
  exportMaxLag: def('EXPORT_MAX_LAG', '100000', int(100), 'Interaction events one stream (one Redis slot; the whole log on the memory store) may hold. With a sink, events wait there until exported and writes beyond it are refused with 503 `E_EXPORT_BACKLOG` (a warning and `tremolo_export_lag` from 80 %); without one, the oldest go.'),
  exportEntryEvents: def('EXPORT_ENTRY_EVENTS', String(INTERACTION_ENTRY_MAX), int(1, INTERACTION_ENTRY_MAX), `Most interaction events one write puts in one stream entry while a sink is set (fewer entries: fewer XADDs, less for the exporter to read and trim; at most ${INTERACTION_ENTRY_MAX}, the most any reader expects). \`1\` writes only one-event entries, the only ones releases before batched entries read and acknowledge: keep \`1\` while any such process shares the storage (docs/operations.md, Upgrades).`),
  exportBatchMax: def('EXPORT_BATCH_MAX', '10000', int(1, 1_000_000), 'Most events the exporter reads and writes to its sinks in one batch.'),
  exportBatchWaitMs: def('EXPORT_BATCH_WAIT', '1s', duration(1), 'Longest the exporter waits to fill a batch before writing what it has.'),
  exportRetryMaxMs: def('EXPORT_RETRY_MAX', '10s', duration(10), 'Longest pause between retries while a sink is failing (doubling from 100 ms).'),
  exportClaimIdleMs: def('EXPORT_CLAIM_IDLE', '30s', duration(100), 'A batch an exporter left unacknowledged this long (it died mid-batch) is taken over by another exporter of the group (never by itself). Keep it well above the longest batch write.'),
  exportPipelines: def('EXPORT_PIPELINES', '2', int(1, 64), 'Batches one exporter writes to its sinks and acknowledges at once.'),
  progressIntervalMs: def('PROGRESS_INTERVAL', '2s', duration(0), 'Watch progress is accepted at most once per this interval per user (or anonymous session) and video; faster reports get `E_RATE_LIMITED`.'),
  eventMaxAgeMs: def('EVENT_MAX_AGE', '1h', duration(1000), 'Client-reported events (`POST /v1/events`) older than this are refused with `E_EVENT_TIME`.'),
  eventMaxSkewMs: def('EVENT_MAX_SKEW', '1m', duration(0), 'Client-reported events dated more than this ahead of the server clock are refused with `E_EVENT_TIME`.'),
  // gRPC
  grpcPort: def('GRPC_PORT', '', optional(int(0, 65535)), 'Port of the gRPC interface (`tremolo.v1`, proto/ in the package); unset: off; 0 picks a free port.'),
  grpcHost: def('GRPC_HOST', '', optional(str), 'Interface the gRPC server listens on (default: HOST).'),
  grpcMaxStreams: def('GRPC_MAX_STREAMS', '10000', int(1), 'Server streams (WatchVideo, SubscribeInteractions) one process serves at once; above it new ones get UNAVAILABLE (`E_BUSY`).'),
  grpcWatchPollMs: def('GRPC_WATCH_POLL', '5s', duration(100), 'A WatchVideo stream reads its video\'s log when a change is announced, and at least this often (the longest a lost announcement delays an event); a SubscribeInteractions stream that has caught up reads again after this long.'),

  // metrics
  metricsEnabled: def('METRICS_ENABLED', 'true', bool, 'Serve Prometheus metrics at /metrics on their own listener (METRICS_HOST:METRICS_PORT), never on PORT.'),
  metricsHost: def('METRICS_HOST', '127.0.0.1', str, 'Interface of the metrics listener; anything but loopback needs METRICS_TOKEN.'),
  metricsPort: def('METRICS_PORT', '9464', int(0, 65535), 'Port of the metrics listener (0 picks a free port); give each process on a machine its own.'),
  metricsToken: def('METRICS_TOKEN', '', secretValue(32), 'When set, a scrape must send `Authorization: Bearer <METRICS_TOKEN>` (at least 32 bytes).', { secret: true }),

  // tracing
  tracingEnabled: def(
    'TRACING_ENABLED',
    'false',
    bool,
    'Export OpenTelemetry traces over OTLP/HTTP (to OTEL_EXPORTER_OTLP_ENDPOINT, service OTEL_SERVICE_NAME, default `tremolo`); off, no OpenTelemetry code runs.',
  ),
  traceSampleRatio: def('TRACE_SAMPLE_RATIO', '0.01', num(0, 1), 'Share of traces kept whose root no TRACE_SAMPLE_RULES rule matches; other spans follow their parent.'),
  traceSampleRules: def(
    'TRACE_SAMPLE_RULES',
    '/v1/uploads*=1,media.job*=1',
    sampleRules,
    'Per-operation ratios for trace roots, first match wins: `pattern=ratio,...`, `*` a wildcard, matched against the span name (`video:like`, `GET /videos/:id`) or HTTP route; e.g. `video:watch=0.01,video:like=0.1`.',
  ),
} as const;

type Settings = typeof SETTINGS;
export type Config = { readonly [K in keyof Settings]: ReturnType<Settings[K]['parse']> } & {
  /** Secrets that were unset and made up at random for this process (start-up warns about them). */
  readonly generatedSecrets: readonly ('JWT_SECRET' | 'MEDIA_SECRET')[];
};

/** Raised when one or more settings are invalid; its message lists every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    if (key in overrides) {
      out[key] = (overrides as Record<string, unknown>)[key];
      continue;
    }
    const raw = env[setting.env] ?? setting.default;
    try {
      out[key] = setting.parse(raw);
    } catch (err) {
      const allowed = err instanceof ConfigValueError ? err.message : String(err);
      const shown = setting.secret ? ` (${Buffer.byteLength(raw, 'utf8')} bytes)` : `=${JSON.stringify(raw)}`;
      problems.push(`${setting.env}${shown} is invalid: expected ${allowed}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  const cfg = out as { -readonly [K in keyof Config]: Config[K] };
  cfg.generatedSecrets = overrides.generatedSecrets ?? [];
  problems.push(...crossChecks(cfg));
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(cfg);
}

/** Rules between settings; fills in the random secrets a lone memory-store process may use. */
function crossChecks(cfg: { -readonly [K in keyof Config]: Config[K] }): string[] {
  const problems: string[] = [];
  // HS256 is used only when no key pair is configured.
  const hs256 = !cfg.jwtPrivateKey && !cfg.jwtPublicKey && !cfg.jwksUrl;
  const generated: ('JWT_SECRET' | 'MEDIA_SECRET')[] = [];
  for (const [key, name, needed] of [
    ['jwtSecret', 'JWT_SECRET', hs256],
    ['mediaSecret', 'MEDIA_SECRET', true],
  ] as const) {
    if (!needed || cfg[key] !== '') continue;
    if (cfg.nodeEnv === 'production') {
      problems.push(`${name} is not set: NODE_ENV=production needs it (at least 32 random bytes)`);
    } else if (cfg.storage === 'redis') {
      problems.push(`${name} is not set: STORAGE=redis needs it, as every process must share it (at least 32 random bytes)`);
    } else {
      cfg[key] = randomBytes(32).toString('base64url');
      generated.push(name);
    }
  }
  if (generated.length) cfg.generatedSecrets = [...cfg.generatedSecrets, ...generated];
  if (cfg.jwtPrivateKey && cfg.jwtPublicKey && !samePublicKey(cfg.jwtPrivateKey, cfg.jwtPublicKey)) {
    // a mismatch would issue tokens this very server refuses
    problems.push('JWT_PRIVATE_KEY does not belong to JWT_PUBLIC_KEY: expected the two halves of one key pair');
  }
  if ((cfg.tlsCert === undefined) !== (cfg.tlsKey === undefined)) {
    problems.push('TLS_CERT and TLS_KEY go together: set both to serve TLS, or neither');
  } else if (cfg.tlsCert && cfg.tlsKey && !new X509Certificate(cfg.tlsCert).checkPrivateKey(createPrivateKey(cfg.tlsKey))) {
    problems.push('TLS_KEY is not the private key of TLS_CERT');
  }
  if (cfg.redisWaitReplicas > 0 && cfg.redisWaitTimeoutMs >= cfg.storageTimeoutMs) {
    // the storage call would time out first, and the client would never learn that WAIT failed
    problems.push(`REDIS_WAIT_TIMEOUT_MS=${cfg.redisWaitTimeoutMs} must be below STORAGE_TIMEOUT (${cfg.storageTimeoutMs} ms)`);
  }
  if (cfg.http2Cleartext && cfg.tlsCert) {
    problems.push('HTTP2_CLEARTEXT=true is for serving without TLS: with TLS_CERT and TLS_KEY, HTTP/2 is offered by ALPN already');
  }
  if (cfg.mediaStore === 's3') {
    const missing = (
      [
        ['s3Bucket', 'S3_BUCKET'],
        ['s3AccessKeyId', 'S3_ACCESS_KEY_ID'],
        ['s3SecretAccessKey', 'S3_SECRET_ACCESS_KEY'],
      ] as const
    ).filter(([key]) => !cfg[key]);
    // no built-in credentials: a bucket reached with someone's default keys is worse than no start
    if (missing.length) problems.push(`MEDIA_STORE=s3 needs ${missing.map(([, name]) => name).join(', ')}: set them (no values are built in)`);
  }
  if (!cfg.taggerClassifierModel !== !cfg.taggerClassifierLabels) {
    // one without the other would leave the classifier off without a word
    problems.push('TAGGER_CLASSIFIER_MODEL and TAGGER_CLASSIFIER_LABELS go together: set both to tag with a classifier, or neither');
  }
  if (cfg.metricsEnabled && !cfg.metricsToken && !isLoopback(cfg.metricsHost)) {
    problems.push(`METRICS_HOST=${JSON.stringify(cfg.metricsHost)} is not a loopback address: set METRICS_TOKEN too, or bind metrics to 127.0.0.1`);
  }
  return problems;
}

function samePublicKey(privatePem: string, publicPem: string): boolean {
  const der = (pem: string, priv: boolean) =>
    (priv ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem)).export({ type: 'spki', format: 'der' });
  return der(privatePem, true).equals(der(publicPem, false));
}

/** The tag task's options (TAGGER_*): the classifier only when its model and labels are set. */
export function taggerOptions(config: Config): TaggerOptions {
  const base: TaggerOptions = { device: config.taggerDevice, threads: config.taggerThreads };
  if (!config.taggerClassifierModel || !config.taggerClassifierLabels) return base;
  return {
    ...base,
    classifier: {
      modelPath: config.taggerClassifierModel,
      labelsPath: config.taggerClassifierLabels,
      size: config.taggerClassifierSize,
      mean: config.taggerClassifierMean,
      std: config.taggerClassifierStd,
      topK: config.taggerClassifierTopK,
      threshold: config.taggerClassifierThreshold,
    },
  };
}

/** The token service's settings (JWT_*, JWKS_URL): the keys only where they are set. */
export function tokenSettings(config: Config): TokenSettings {
  return {
    ...(config.jwtSecret ? { secret: config.jwtSecret } : {}),
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    ttlS: config.jwtTtlS,
    ...(config.jwtPrivateKey ? { privateKeyPem: config.jwtPrivateKey } : {}),
    ...(config.jwtPublicKey ? { publicKeyPem: config.jwtPublicKey } : {}),
    ...(config.jwksUrl ? { jwksUrl: config.jwksUrl } : {}),
  };
}

/** 127.0.0.0/8, ::1 and `localhost`: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** The table of docs/operations.md: `| Variable | Default | Meaning |`. */
export function configTable(): string {
  const rows = Object.values(SETTINGS).map(
    (s) => `| \`${s.env}\` | ${s.default === '' ? '(unset)' : `\`${s.default}\``} | ${s.doc} |`,
  );
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
