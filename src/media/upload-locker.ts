/**
 * tus's Locker over storage (Store.uploads.lock*): one request at a time acts on an upload,
 * whichever process it reached, so with STORAGE=redis any process can take any PATCH.
 *
 * - Taking the lock is SET NX PX with a random token (a Lua script); the holder renews it
 *   every third of its lifetime, so a crashed holder's lock lapses after UPLOAD_LOCK_TTL and
 *   never blocks an upload for longer.
 * - A request that finds the lock held asks the holder to let go (a flag in storage the
 *   holder sees on its next renewal, where it calls tus's release callback: tus then ends the
 *   holder's request, which unlocks), and tries again with growing pauses until it gets the
 *   lock or gives up after `acquireTimeoutMs` (tus answers ERR_LOCK_TIMEOUT).
 * - Unlocking deletes the lock only while the token still holds it: a holder whose lock
 *   lapsed never frees one that someone else took since.
 *
 * On the memory store tus's own MemoryLocker is used instead (one process, nothing to share).
 */
import { randomBytes } from 'node:crypto';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/server';
import type { UploadStore } from '../storage/uploads.ts';

export interface StorageUploadLockerOptions {
  locks: Pick<UploadStore, 'lock' | 'renewLock' | 'unlock' | 'requestUnlock'>;
  /** Lifetime of a lock not renewed (UPLOAD_LOCK_TTL). */
  ttlMs: number;
  /** How long a request waits for a held lock before tus refuses it. Default 30 s, as tus's MemoryLocker. */
  acquireTimeoutMs?: number;
  onError: (err: unknown, context: string) => void;
}

export class StorageUploadLocker implements Locker {
  readonly #o: Required<StorageUploadLockerOptions>;

  constructor(opts: StorageUploadLockerOptions) {
    if (!Number.isInteger(opts.ttlMs) || opts.ttlMs < 300) throw new RangeError('ttlMs must be an integer >= 300');
    this.#o = { acquireTimeoutMs: 30_000, ...opts };
  }

  newLock(id: string): Lock {
    return new StorageUploadLock(id, this.#o);
  }
}

class StorageUploadLock implements Lock {
  readonly #token = randomBytes(12).toString('base64url');
  #renewal: NodeJS.Timeout | undefined;

  constructor(
    private readonly id: string,
    private readonly o: Required<StorageUploadLockerOptions>,
  ) {}

  async lock(stop: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { locks, ttlMs, acquireTimeoutMs } = this.o;
    const deadline = Date.now() + acquireTimeoutMs;
    let pauseMs = 20;
    for (;;) {
      if (await locks.lock(this.id, this.#token, ttlMs)) break;
      if (stop.aborted || Date.now() >= deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
      await locks.requestUnlock(this.id, ttlMs);
      await pause(Math.min(pauseMs, deadline - Date.now()), stop);
      pauseMs = Math.min(500, pauseMs * 2);
    }
    let asked = false;
    this.#renewal = setInterval(() => {
      locks.renewLock(this.id, this.#token, ttlMs).then(
        (state) => {
          if (state === 'held' || asked) return;
          // asked to let go, or the lock lapsed (a stall): either way this request should end now
          asked = true;
          void Promise.resolve(requestRelease()).catch((err: unknown) => this.o.onError(err, `upload ${this.id} lock release`));
        },
        (err: unknown) => this.o.onError(err, `upload ${this.id} lock renewal`),
      );
    }, Math.max(100, Math.floor(ttlMs / 3)));
    this.#renewal.unref();
  }

  async unlock(): Promise<void> {
    clearInterval(this.#renewal);
    this.#renewal = undefined;
    await this.o.locks.unlock(this.id, this.#token);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
