/**
 * Access tokens (JWT via jose). tremolo issues HS256 tokens signed with JWT_SECRET, or,
 * given a private key, RS256/EdDSA/ES256 tokens; it can verify tokens issued elsewhere
 * with a PEM public key or a JWKS URL. A server always verifies what it issues: with a
 * public key or JWKS and no private key it issues nothing (E_LOCAL_LOGIN_DISABLED).
 * Every failure maps to a distinct catalog code: missing, expired, invalid (malformed,
 * tampered, wrong issuer/audience) and wrong algorithm (`none` included).
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import {
  SignJWT,
  calculateJwkThumbprint,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  exportJWK,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { isTsid } from '../../domain/ids.ts';
import { tokenKeyAlg } from '../../config.ts';
import { TremoloError } from '../../protocol/errors.ts';

export interface TokenSettings {
  /** HS256 secret; used only when no key below is given. */
  secret?: string;
  issuer: string;
  audience: string;
  ttlS: number;
  /** Signs issued tokens (RS256, EdDSA or ES256 by key type); its public half verifies them. */
  privateKeyPem?: string;
  /** Verifies tokens issued elsewhere. */
  publicKeyPem?: string;
  jwksUrl?: string;
}

/** How issued tokens are signed. */
interface Signer {
  alg: string;
  key: Uint8Array | KeyObject;
  kid?: string;
}

export interface Principal {
  userId: string;
  handle?: string;
  /** Roles from the token's `role` (a string) or `roles` (an array) claim; `admin` makes an operator (see ADMIN_USERS). */
  roles?: string[];
  /** Seconds since the epoch at which the token expires. */
  expiresAt: number;
}

/**
 * A backend service calling over gRPC: a token whose `role` claim is `service` and whose
 * subject is the service's name. It is no user: REST and sockets refuse it.
 */
export interface ServicePrincipal {
  service: string;
  expiresAt: number;
}

/** Who a gRPC call comes from. */
export type Caller = { kind: 'user'; principal: Principal } | { kind: 'service'; principal: ServicePrincipal };

/** Service names: short, printable, never mistaken for a user id. */
const SERVICE_NAME = /^[a-z][a-z0-9-]{1,63}$/;
const SERVICE_ROLE = 'service';

const ASYMMETRIC = ['RS256', 'EdDSA', 'ES256'];
/** Verified tokens remembered, and for how long at most (a token is never trusted past its own `exp`). */
const VERIFIED_MAX = 10_000;
const VERIFIED_TTL_MS = 5 * 60_000;

export class TokenService {
  private readonly signer: Promise<Signer> | undefined;
  private readonly algorithms: string[];
  private readonly verifyKey: Promise<Uint8Array | KeyObject | JWTVerifyGetKey>;
  /**
   * A client sends the same token with every request for the token's whole life, and jose
   * verifies through WebCrypto, an asynchronous round trip through the thread pool for each
   * call. Remembering the verified principal per token string makes a repeat request cost one
   * map lookup. Only successes are remembered: a tampered token is another string.
   */
  private readonly verified: LRUCache<string, Principal>;
  /** Verified service tokens, remembered as user tokens are. */
  private readonly services: LRUCache<string, ServicePrincipal>;
  private readonly clock: Pick<Clock, 'now'>;

  /**
   * @param opts.userExists Whether a well-formed user id names an existing account. With it,
   *   a validly signed token whose subject is not a user (forged with a leaked key, issued by
   *   another system, or for a removed account) is refused; answers are remembered with the
   *   verified token, so a request pays for the lookup once per token.
   * @param opts.clock What `exp` and `iat` are measured against (issuing, verifying, the
   *   remembered tokens' expiry). Default: the system clock.
   */
  constructor(
    private readonly settings: TokenSettings,
    private readonly opts: { userExists?: (userId: string) => Promise<boolean>; clock?: Pick<Clock, 'now'> } = {},
  ) {
    const clock = (this.clock = opts.clock ?? systemClock);
    // ttlResolution 0: the cache reads the clock on every lookup rather than reusing a reading for 1 ms of real time
    this.verified = new LRUCache<string, Principal>({ max: VERIFIED_MAX, ttl: VERIFIED_TTL_MS, ttlResolution: 0, perf: { now: () => clock.now() } });
    this.services = new LRUCache<string, ServicePrincipal>({ max: 1000, ttl: VERIFIED_TTL_MS, ttlResolution: 0, perf: { now: () => clock.now() } });
    const own = settings.privateKeyPem ? ownKeyPair(settings.privateKeyPem) : undefined;
    if (own) {
      this.signer = own.kid.then((kid) => ({ alg: own.alg, key: own.privateKey, kid }));
    } else if (!settings.publicKeyPem && !settings.jwksUrl) {
      if (!settings.secret) throw new TypeError('TokenService needs a secret, a private key, a public key or a JWKS URL');
      const secret = new TextEncoder().encode(settings.secret);
      this.signer = Promise.resolve({ alg: 'HS256', key: secret });
    }

    if (settings.jwksUrl) {
      this.algorithms = ASYMMETRIC;
      const remote = createRemoteJWKSet(new URL(settings.jwksUrl));
      // Our own tokens verify with our own key even when the JWKS does not list it.
      this.verifyKey = own
        ? own.kid.then((kid): JWTVerifyGetKey => (header, token) => (header.kid === kid ? own.publicKey : remote(header, token)))
        : Promise.resolve(remote);
    } else if (settings.publicKeyPem) {
      const key = createPublicKey(settings.publicKeyPem);
      const alg = tokenKeyAlg(key);
      if (!alg) throw new RangeError(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
      // config checks that a private key given with it is its other half
      this.algorithms = [alg];
      this.verifyKey = Promise.resolve(key);
    } else if (own) {
      this.algorithms = [own.alg];
      this.verifyKey = Promise.resolve(own.publicKey);
    } else {
      this.algorithms = ['HS256'];
      this.verifyKey = Promise.resolve(createSecretKey(Buffer.from(settings.secret ?? '')));
    }
  }

  /** Whether this service issues tokens (local sign-up and log-in); false when tokens only come from elsewhere. */
  get canIssue(): boolean {
    return this.signer !== undefined;
  }

  /** Issues a token for a user of this service; E_LOCAL_LOGIN_DISABLED when it has no signing key. */
  async issue(user: { id: string; handle: string }, nowS = Math.floor(this.clock.now() / 1000)): Promise<{ token: string; expiresAt: string }> {
    return this.#sign({ handle: user.handle }, user.id, nowS, this.settings.ttlS);
  }

  /**
   * Issues a service token (`role: service`, subject the service's name) for backend callers
   * of the gRPC interface; E_LOCAL_LOGIN_DISABLED when this server has no signing key.
   */
  async issueService(service: string, ttlS: number, nowS = Math.floor(this.clock.now() / 1000)): Promise<{ token: string; expiresAt: string }> {
    if (!SERVICE_NAME.test(service)) throw new RangeError('a service name is 2 to 64 characters: a-z, 0-9 and -, starting with a letter');
    return this.#sign({ role: SERVICE_ROLE }, service, nowS, ttlS);
  }

  /** Signs a token of this issuer and audience for `subject`, valid `ttlS` from `nowS`; E_LOCAL_LOGIN_DISABLED without a signing key. */
  async #sign(claims: JWTPayload, subject: string, nowS: number, ttlS: number): Promise<{ token: string; expiresAt: string }> {
    if (!this.signer) throw new TremoloError('E_LOCAL_LOGIN_DISABLED');
    const { alg, key, kid } = await this.signer;
    const exp = nowS + ttlS;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
      .setSubject(subject)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .sign(key);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** A user's or a service's token (gRPC); throws a TremoloError with the precise code otherwise. */
  async verifyCaller(token: string | undefined | null): Promise<Caller> {
    if (!token) throw new TremoloError('E_TOKEN_MISSING');
    const known = this.services.get(token);
    if (known) {
      if (known.expiresAt > this.clock.now() / 1000) return { kind: 'service', principal: known };
      this.services.delete(token);
      throw new TremoloError('E_TOKEN_EXPIRED');
    }
    const payload = this.verified.has(token) ? undefined : await this.verifySignature(token);
    if (payload?.['role'] === SERVICE_ROLE) {
      if (typeof payload.sub !== 'string' || !SERVICE_NAME.test(payload.sub) || typeof payload.exp !== 'number') {
        throw new TremoloError('E_TOKEN_INVALID', 'The service token does not name a service');
      }
      const principal = { service: payload.sub, expiresAt: payload.exp };
      this.services.set(token, principal);
      return { kind: 'service', principal };
    }
    return { kind: 'user', principal: await this.verify(token) };
  }

  /**
   * The principal of a token verified before and not expired since, at once (no promise: every
   * signed-in request asks); undefined for any other token, which `verify` then checks or refuses.
   */
  known(token: string): Principal | undefined {
    const known = this.verified.get(token);
    return known && known.expiresAt > this.clock.now() / 1000 ? known : undefined;
  }

  /** Verifies a token; throws a TremoloError with the precise code otherwise. */
  async verify(token: string | undefined | null): Promise<Principal> {
    if (!token) throw new TremoloError('E_TOKEN_MISSING');
    const known = this.known(token);
    if (known) return known;
    // verified before, expired since
    if (this.verified.delete(token)) throw new TremoloError('E_TOKEN_EXPIRED');
    const payload = await this.verifySignature(token);
    if (payload['role'] === SERVICE_ROLE) throw new TremoloError('E_TOKEN_INVALID', 'A service token is accepted only by the gRPC interface');
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw new TremoloError('E_TOKEN_INVALID');
    const principal: Principal = {
      userId: payload.sub,
      ...(typeof payload['handle'] === 'string' ? { handle: payload['handle'] } : {}),
      ...rolesOf(payload['role'], payload['roles']),
      expiresAt: payload.exp,
    };
    // the subject becomes the author of every write: it must be a user id, and a user's
    if (!isTsid(principal.userId)) throw new TremoloError('E_TOKEN_INVALID', 'The access token does not name a user');
    if (this.opts.userExists && !(await this.opts.userExists(principal.userId))) {
      throw new TremoloError('E_TOKEN_INVALID', 'The access token names no existing user');
    }
    this.verified.set(token, principal);
    return principal;
  }

  /** The claims of a token whose algorithm, signature, issuer, audience and expiry check out. */
  private async verifySignature(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TremoloError('E_TOKEN_INVALID');
    }
    if (!alg || !this.algorithms.includes(alg)) throw new TremoloError('E_TOKEN_ALGORITHM');
    try {
      const key = await this.verifyKey;
      const { payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms: this.algorithms,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        currentDate: new Date(this.clock.now()),
      });
      return payload;
    } catch (err) {
      if (err instanceof TremoloError) throw err;
      if (err instanceof errors.JWTExpired) throw new TremoloError('E_TOKEN_EXPIRED');
      if (err instanceof errors.JOSEAlgNotAllowed) throw new TremoloError('E_TOKEN_ALGORITHM');
      throw new TremoloError('E_TOKEN_INVALID', undefined, { cause: err });
    }
  }
}

/** A signing key pair from a PEM private key; `kid` is the RFC 7638 thumbprint of its public half. */
function ownKeyPair(pem: string): { alg: string; privateKey: KeyObject; publicKey: KeyObject; kid: Promise<string> } {
  const privateKey = createPrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  const alg = tokenKeyAlg(publicKey);
  if (!alg) throw new RangeError(`JWT_PRIVATE_KEY: unsupported key type ${publicKey.asymmetricKeyType}`);
  return { alg, privateKey, publicKey, kid: exportJWK(publicKey).then((jwk) => calculateJwkThumbprint(jwk)) };
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new TremoloError('E_TOKEN_INVALID', 'The Authorization header must be "Bearer <token>"');
  return m[1];
}

/** The roles a token claims, as strings (anything else in the claims is ignored). */
function rolesOf(role: unknown, roles: unknown): { roles?: string[] } {
  const out = [...(typeof role === 'string' ? [role] : []), ...(Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [])];
  return out.length ? { roles: out.slice(0, 16) } : {};
}
