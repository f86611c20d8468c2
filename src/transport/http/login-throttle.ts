/**
 * Failed logins, limited the way OWASP's authentication guidance advises: not a lockout of
 * the account by anyone who types its handle, but delays that grow with failures, counted
 *  - per (handle, client address): after `perHandleIp` failures in a day, each further
 *    attempt from that address waits 1 s, 2 s, 4 s, ... up to `maxDelayS`; a success clears it;
 *  - per handle, looser: after `perHandle` failures from anywhere (a guesser spread over many
 *    addresses), attempts wait the same growing delays, except from addresses that have
 *    logged in to the handle before, so its owner is not locked out by strangers.
 * A delay runs from the failure that earned it. An attempt refused during a delay is not
 * checked and not counted: hammering neither guesses nor lengthens the wait. An attempt is
 * counted against its address as it starts, and one past the limit starts a delay at once,
 * so concurrent guesses cannot all slip through together.
 */
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { TremoloError } from '../../protocol/errors.ts';
import type { RateCounters } from './rate-counters.ts';

export interface LoginFailureSettings {
  /** Failures per (handle, address) in a day before delays start. */
  perHandleIp: number;
  /** Failures per handle in a day before delays start for addresses it does not know. */
  perHandle: number;
  /** Longest delay, in seconds. */
  maxDelayS: number;
}

const DAY_S = 86_400;
/** How long a successful (handle, address) pair is remembered (timers above 24.8 days overflow). */
const KNOWN_S = 14 * DAY_S;

export class LoginThrottle {
  private readonly pairFailures: RateLimiterAbstract;
  private readonly handleFailures: RateLimiterAbstract;
  /** A key present here with more than one point is in a delay until it expires. */
  private readonly delays: RateLimiterAbstract;
  private readonly knownPairs: RateLimiterAbstract;

  constructor(
    counters: RateCounters,
    private readonly settings: LoginFailureSettings,
  ) {
    this.pairFailures = counters.limiter('login-fail-pair', settings.perHandleIp, DAY_S);
    this.handleFailures = counters.limiter('login-fail-handle', settings.perHandle, DAY_S);
    this.delays = counters.limiter('login-delay', 1, 1);
    this.knownPairs = counters.limiter('login-known', 1, KNOWN_S);
  }

  /**
   * Before a password is checked: refuses with E_RATE_LIMITED (and Retry-After) while a delay
   * runs for this handle from this address, or for the handle from an address it does not
   * know; otherwise counts the attempt as a failure until `succeeded` says otherwise.
   */
  async begin(handle: string, address: string): Promise<void> {
    const pair = pairKey(handle, address);
    const hk = handleKey(handle);
    const [pairDelay, handleDelay] = await Promise.all([this.read(this.delays, `p:${pair}`), this.read(this.delays, `h:${hk}`)]);
    if (delayed(pairDelay)) throw refused(pairDelay);
    if (delayed(handleDelay) && !(await this.read(this.knownPairs, pair))) throw refused(handleDelay);
    const attempts = await this.count(this.pairFailures, pair);
    // this attempt goes ahead; any other that arrives while it is checked waits
    if (attempts > this.settings.perHandleIp) await this.delay(`p:${pair}`, attempts - this.settings.perHandleIp - 1);
  }

  /** After a wrong password (or unknown handle): the delays, from now; and a failure of the handle from everywhere. */
  async failed(handle: string, address: string): Promise<void> {
    const pair = pairKey(handle, address);
    const hk = handleKey(handle);
    const pairs = (await this.read(this.pairFailures, pair))?.consumedPoints ?? 0;
    if (pairs >= this.settings.perHandleIp) await this.delay(`p:${pair}`, pairs - this.settings.perHandleIp);
    const failures = await this.count(this.handleFailures, hk);
    if (failures >= this.settings.perHandle) await this.delay(`h:${hk}`, failures - this.settings.perHandle);
  }

  /** The attempt counted by `begin` was never checked (the server was busy): take it back. */
  async unchecked(handle: string, address: string): Promise<void> {
    await this.guard(() => this.pairFailures.reward(pairKey(handle, address), 1));
  }

  /** After a correct password: this address's failures are forgiven and it is known to the handle. */
  async succeeded(handle: string, address: string): Promise<void> {
    const pair = pairKey(handle, address);
    await this.guard(() =>
      Promise.all([this.pairFailures.delete(pair), this.delays.delete(`p:${pair}`), this.knownPairs.set(pair, 1, KNOWN_S)]),
    );
  }

  /** The k-th delay (k = 0, 1, ...): 1 s, 2 s, 4 s, ... capped. */
  private delay(key: string, k: number): Promise<unknown> {
    const seconds = Math.min(2 ** Math.min(k, 30), this.settings.maxDelayS);
    return this.guard(() => this.delays.block(key, seconds));
  }

  private async count(limiter: RateLimiterAbstract, key: string): Promise<number> {
    return (await this.guard(() => limiter.penalty(key, 1)))?.consumedPoints ?? 0;
  }

  private read(limiter: RateLimiterAbstract, key: string): Promise<RateLimiterRes | null | undefined> {
    return this.guard(() => limiter.get(key));
  }

  /** A failing limiter store lets logins through (as every other limit does) rather than refusing them all. */
  private async guard<T>(op: () => Promise<T>): Promise<T | undefined> {
    try {
      return await op();
    } catch {
      return undefined;
    }
  }
}

/** Handles are case-insensitive; the schema bounds their length. */
function handleKey(handle: string): string {
  return handle.trim().toLowerCase();
}

function pairKey(handle: string, address: string): string {
  return `${handleKey(handle)}|${address}`;
}

function delayed(res: RateLimiterRes | null | undefined): res is RateLimiterRes {
  return !!res && res.consumedPoints > 1 && res.msBeforeNext > 0;
}

function refused(res: RateLimiterRes): TremoloError {
  return new TremoloError('E_RATE_LIMITED', 'Too many failed logins; wait before trying again', {
    retryAfter: Math.ceil(res.msBeforeNext / 1000),
  });
}
