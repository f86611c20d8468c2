/**
 * Request rate limits (rate-limiter-flexible): per client IP, per signed-in user, sign-ups
 * per IP, login attempts per IP, and failed logins (LoginThrottle). Where the counters live
 * is the storage layer's choice (`RateCounters`, rate-counters.ts): in this process or, with
 * RATE_STORE=redis, in Redis so the limits hold across processes. Callers pass addresses
 * through `addressKey` (IPv6 counts per /64).
 */
import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { TremoloError } from '../../protocol/errors.ts';
import type { LocalCounts, RateCounters } from './rate-counters.ts';
import { LoginThrottle, type LoginFailureSettings } from './login-throttle.ts';

export interface RateLimitSettings {
  ipPerMin: number;
  userPerMin: number;
  /** Login attempts per IP each minute, whatever their outcome. */
  loginPerMin: number;
  /** Sign-ups per IP each hour. Default 60. */
  signupPerHour?: number;
  /** Failed-login limits (see LoginThrottle). Default 5 per (handle, IP), 50 per handle, delays up to 15 min. */
  loginFailures?: LoginFailureSettings;
  /** Where the counters live (storage/rate-limits.ts). */
  counters: RateCounters;
}

/** A limit's answer: admitted (undefined) or refused at once, or a promise of it. */
export type Admission = TremoloError | undefined | Promise<void>;

/** Calls a callback hook's `done` with an admission's answer: at once when it has one. */
export function whenAdmitted(admission: Admission, done: (err?: Error) => void): void {
  if (admission === undefined || admission instanceof TremoloError) return done(admission);
  admission.then(done as () => void, done);
}

export class RateLimits {
  /** Failed-login delays. */
  readonly logins: LoginThrottle;
  private readonly ip: RateLimiterAbstract;
  private readonly user: RateLimiterAbstract;
  private readonly login: RateLimiterAbstract;
  private readonly signup: RateLimiterAbstract;

  /** The per-address and per-user counts where they are kept in this process: no promise per request. */
  private readonly localIp: LocalCounts | undefined;
  private readonly localUser: LocalCounts | undefined;

  constructor(settings: RateLimitSettings) {
    const { counters } = settings;
    this.ip = counters.limiter('ip', settings.ipPerMin, 60);
    this.user = counters.limiter('user', settings.userPerMin, 60);
    this.localIp = counters.localLimiter?.(settings.ipPerMin, 60);
    this.localUser = counters.localLimiter?.(settings.userPerMin, 60);
    this.login = counters.limiter('login', settings.loginPerMin, 60);
    this.signup = counters.limiter('signup', settings.signupPerHour ?? 60, 3600);
    this.logins = new LoginThrottle(counters, settings.loginFailures ?? { perHandleIp: 5, perHandle: 50, maxDelayS: 900 });
  }

  /**
   * The per-address limit: undefined (admitted) or the refusal at once when the counts are kept
   * in this process, so a request hook goes on without a promise or a microtask
   * (`whenAdmitted`); a promise of the answer when they are shared (Redis).
   */
  admitIp(ip: string): Admission {
    return this.localIp ? takeLocal(this.localIp, ip) : consume(this.ip, ip);
  }

  /** The per-user limit, as `admitIp`. */
  admitUser(userId: string): Admission {
    return this.localUser ? takeLocal(this.localUser, userId) : consume(this.user, userId);
  }

  /** The per-address limit as a promise (rejected with E_RATE_LIMITED). */
  consumeIp(ip: string): Promise<void> {
    return settle(this.admitIp(ip));
  }

  /** The per-user limit as a promise (rejected with E_RATE_LIMITED). */
  consumeUser(userId: string): Promise<void> {
    return settle(this.admitUser(userId));
  }

  /** A login attempt from `ip`, counted before any password is checked. */
  consumeLogin(ip: string): Promise<void> {
    return consume(this.login, ip);
  }

  /** A sign-up from `ip`, counted before its password is hashed. */
  consumeSignup(ip: string): Promise<void> {
    return consume(this.signup, ip);
  }
}

/** Consumes one point; refusal becomes E_RATE_LIMITED with Retry-After. */
export function consume(limiter: RateLimiterAbstract, key: string, points = 1): Promise<void> {
  // one `then` rather than an async function awaiting: this runs twice on most requests
  return limiter.consume(key, points).then(allowed, refused);
}

/** One point from synchronous counts: the refusal as `consume` makes it, or undefined. */
function takeLocal(counts: LocalCounts, key: string): TremoloError | undefined {
  const waitMs = counts.take(key);
  return waitMs === 0 ? undefined : new TremoloError('E_RATE_LIMITED', undefined, { retryAfter: Math.ceil(waitMs / 1000) });
}

function settle(admission: Admission): Promise<void> {
  if (admission instanceof Promise) return admission;
  return admission ? Promise.reject(admission) : Promise.resolve();
}

function allowed(): void {}

function refused(err: unknown): void {
  if (err instanceof RateLimiterRes) {
    throw new TremoloError('E_RATE_LIMITED', undefined, { retryAfter: Math.ceil(err.msBeforeNext / 1000) });
  }
  // the limiter's store failed: let the request through rather than fail it
}
