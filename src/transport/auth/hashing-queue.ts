/**
 * Password hashing is the costliest thing a client can ask for without an account: one
 * scrypt per sign-up or login, run on libuv's thread pool (4 threads by default), which
 * WebCrypto token checks and file I/O share. Unbounded, 60 concurrent sign-ups took every
 * thread and an unrelated login waited seconds. So hashes run a few at a time; the rest wait
 * in two small queues, logins served first, and a request that finds its queue full is
 * refused at once with 503 `E_BUSY` and Retry-After rather than waiting without bound. A
 * flood of sign-ups fills only the sign-up queue: logins still get through.
 */
import { TremoloError } from '../../protocol/errors.ts';

export type HashKind = 'login' | 'signup';

export interface HashingQueueSettings {
  /** Hashes computed at once. */
  concurrency: number;
  /** Requests of each kind that may wait; beyond it E_BUSY. */
  queueMax: number;
}

export class HashingQueue {
  private running = 0;
  private readonly waiting: Record<HashKind, (() => void)[]> = { login: [], signup: [] };

  constructor(private readonly settings: HashingQueueSettings) {
    if (!Number.isInteger(settings.concurrency) || settings.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
    if (!Number.isInteger(settings.queueMax) || settings.queueMax < 0) throw new RangeError('queueMax must be a non-negative integer');
  }

  /** Runs `hash` when a slot is free; rejects with E_BUSY (never throws synchronously) when the queue of its kind is full. */
  async run<T>(kind: HashKind, hash: () => Promise<T>): Promise<T> {
    if (this.running >= this.settings.concurrency) {
      const queue = this.waiting[kind];
      if (queue.length >= this.settings.queueMax) {
        // a slot frees within one hash (tens of ms); a second is the shortest Retry-After there is
        throw new TremoloError('E_BUSY', 'Too many password checks at once; retry shortly', { retryAfter: 1 });
      }
      await new Promise<void>((resolve) => queue.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await hash();
    } finally {
      this.release();
    }
  }

  /** Hands the slot straight to the next waiter (logins first), or frees it. */
  private release(): void {
    const next = this.waiting.login.shift() ?? this.waiting.signup.shift();
    if (next) next();
    else this.running--;
  }
}
