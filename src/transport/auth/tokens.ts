/**
 * Access tokens (JWT via jose). tremolo issues HS256 tokens signed with JWT_SECRET; it
 * can instead verify RS256/EdDSA tokens issued elsewhere, with a PEM public key or a
 * JWKS URL. Every failure maps to a distinct catalog code: missing, expired, invalid
 * (malformed, tampered, wrong issuer/audience) and wrong algorithm (`none` included).
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { isTsid } from '../../domain/ids.ts';
import { TremoloError } from '../../protocol/errors.ts';

export interface TokenSettings {
  secret: string;
  issuer: string;
  audience: string;
  ttlS: number;
  publicKeyPem?: string;
  jwksUrl?: string;
}

export interface Principal {
  userId: string;
  handle?: string;
  /** Seconds since the epoch at which the token expires. */
  expiresAt: number;
}

const ASYMMETRIC = ['RS256', 'EdDSA', 'ES256'];
/** Verified tokens remembered, and for how long at most (a token is never trusted past its own `exp`). */
const VERIFIED_MAX = 10_000;
const VERIFIED_TTL_MS = 5 * 60_000;

export class TokenService {
  private readonly secret: Uint8Array;
  private readonly algorithms: string[];
  private readonly verifyKey: Promise<Uint8Array | KeyObject | JWTVerifyGetKey>;
  /**
   * A client sends the same token with every request for the token's whole life, and jose
   * verifies through WebCrypto, an asynchronous round trip through the thread pool for each
   * call. Remembering the verified principal per token string makes a repeat request cost one
   * map lookup. Only successes are remembered: a tampered token is another string.
   */
  private readonly verified = new LRUCache<string, Principal>({ max: VERIFIED_MAX, ttl: VERIFIED_TTL_MS });

  /**
   * @param opts.userExists Whether a well-formed user id names an existing account. With it,
   *   a validly signed token whose subject is not a user (forged with a leaked key, issued by
   *   another system, or for a removed account) is refused; answers are remembered with the
   *   verified token, so a request pays for the lookup once per token.
   */
  constructor(
    private readonly settings: TokenSettings,
    private readonly opts: { userExists?: (userId: string) => Promise<boolean> } = {},
  ) {
    this.secret = new TextEncoder().encode(settings.secret);
    if (settings.jwksUrl) {
      this.algorithms = ASYMMETRIC;
      this.verifyKey = Promise.resolve(createRemoteJWKSet(new URL(settings.jwksUrl)));
    } else if (settings.publicKeyPem) {
      const key = createPublicKey(settings.publicKeyPem);
      const alg = { rsa: 'RS256', ed25519: 'EdDSA', ec: 'ES256' }[key.asymmetricKeyType as string];
      if (!alg) throw new RangeError(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
      this.algorithms = [alg];
      this.verifyKey = Promise.resolve(key);
    } else {
      this.algorithms = ['HS256'];
      this.verifyKey = Promise.resolve(createSecretKey(Buffer.from(this.secret)));
    }
  }

  /** Issues an HS256 token for a user of this service. */
  async issue(user: { id: string; handle: string }, nowS = Math.floor(Date.now() / 1000)): Promise<{ token: string; expiresAt: string }> {
    const exp = nowS + this.settings.ttlS;
    const token = await new SignJWT({ handle: user.handle })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id)
      .setIssuer(this.settings.issuer)
      .setAudience(this.settings.audience)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .sign(this.secret);
    return { token, expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** Verifies a token; throws a TremoloError with the precise code otherwise. */
  async verify(token: string | undefined | null): Promise<Principal> {
    if (!token) throw new TremoloError('E_TOKEN_MISSING');
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt > Date.now() / 1000) return known;
      this.verified.delete(token);
      throw new TremoloError('E_TOKEN_EXPIRED');
    }
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TremoloError('E_TOKEN_INVALID');
    }
    if (!alg || !this.algorithms.includes(alg)) throw new TremoloError('E_TOKEN_ALGORITHM');
    let principal: Principal;
    try {
      const key = await this.verifyKey;
      const { payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms: this.algorithms,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
      });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw new TremoloError('E_TOKEN_INVALID');
      principal = {
        userId: payload.sub,
        ...(typeof payload['handle'] === 'string' ? { handle: payload['handle'] } : {}),
        expiresAt: payload.exp,
      };
    } catch (err) {
      if (err instanceof TremoloError) throw err;
      if (err instanceof errors.JWTExpired) throw new TremoloError('E_TOKEN_EXPIRED');
      if (err instanceof errors.JOSEAlgNotAllowed) throw new TremoloError('E_TOKEN_ALGORITHM');
      throw new TremoloError('E_TOKEN_INVALID', undefined, { cause: err });
    }
    // the subject becomes the author of every write: it must be a user id, and a user's
    if (!isTsid(principal.userId)) throw new TremoloError('E_TOKEN_INVALID', 'The access token does not name a user');
    if (this.opts.userExists && !(await this.opts.userExists(principal.userId))) {
      throw new TremoloError('E_TOKEN_INVALID', 'The access token names no existing user');
    }
    this.verified.set(token, principal);
    return principal;
  }
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new TremoloError('E_TOKEN_INVALID', 'The Authorization header must be "Bearer <token>"');
  return m[1];
}
