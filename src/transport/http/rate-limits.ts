/**
 * Request rate limits (rate-limiter-flexible): per client IP, per signed-in user, and
 * for logins per handle and per IP. Counters live in this process or, with
 * RATE_STORE=redis, in Redis so the limits hold across processes.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Cluster, Redis } from 'ioredis';
import { TremoloError } from '../../protocol/errors.ts';

export interface RateLimitSettings {
  ipPerMin: number;
  userPerMin: number;
  loginPerMin: number;
  /** Present when counters are shared through Redis. */
  redis?: { client: Redis | Cluster; prefix: string };
}

export class RateLimits {
  private readonly ip: RateLimiterAbstract;
  private readonly user: RateLimiterAbstract;
  private readonly login: RateLimiterAbstract;

  constructor(settings: RateLimitSettings) {
    const make = (name: string, points: number, duration: number): RateLimiterAbstract =>
      settings.redis
        ? new RateLimiterRedis({ storeClient: settings.redis.client, keyPrefix: `${settings.redis.prefix}rl:${name}`, points, duration })
        : new RateLimiterMemory({ keyPrefix: name, points, duration });
    this.ip = make('ip', settings.ipPerMin, 60);
    this.user = make('user', settings.userPerMin, 60);
    this.login = make('login', settings.loginPerMin, 60);
  }

  consumeIp(ip: string): Promise<void> {
    return consume(this.ip, ip);
  }

  consumeUser(userId: string): Promise<void> {
    return consume(this.user, userId);
  }

  /** A login attempt counts against both the handle and the IP. */
  async consumeLogin(handle: string, ip: string): Promise<void> {
    await consume(this.login, `h:${handle.toLowerCase()}`);
    await consume(this.login, `ip:${ip}`);
  }
}

/** Consumes one point; refusal becomes E_RATE_LIMITED with Retry-After. */
export async function consume(limiter: RateLimiterAbstract, key: string, points = 1): Promise<void> {
  try {
    await limiter.consume(key, points);
  } catch (err) {
    if (err instanceof RateLimiterRes) {
      throw new TremoloError('E_RATE_LIMITED', undefined, { retryAfter: Math.ceil(err.msBeforeNext / 1000) });
    }
    // the limiter's store failed: let the request through rather than fail it
  }
}
