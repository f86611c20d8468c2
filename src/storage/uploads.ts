/**
 * The upload quota, kept in storage so that it holds however many processes take uploads.
 *
 * An upload reserves its declared size when it is created, in one atomic step that refuses
 * when the owner's reservations would exceed the quota (a Lua script on Redis), so parallel
 * creations cannot overshoot it. The reservation stays while anything made from the upload
 * is stored: its source file, and the media of every video published from it. Storage keeps
 * the videos that show an upload's media, so the reservation can be released only once none
 * does, and a video cannot be recorded on an upload whose reservation is gone.
 */

/** The outcome of a reservation, with the bytes the owner's reservations hold afterwards. */
export type Reservation = { ok: true; usedBytes: number } | { ok: false; usedBytes: number };

/**
 * `released`: the bytes are free again; `held`: a video still shows media made from the
 * upload, so nothing changed; `absent`: the upload held no reservation (released before).
 */
export type ReleaseOutcome = 'released' | 'held' | 'absent';

/**
 * A renewal's outcome: `held` (still ours), `release-requested` (still ours, and another
 * request is waiting for it: finish up and unlock), `lost` (expired and maybe taken).
 */
export type LockRenewal = 'held' | 'release-requested' | 'lost';

export interface UploadStore {
  /**
   * Reserves `bytes` of the owner's quota for one upload, unless the owner's reservations
   * would then exceed `quotaBytes`. Reserving an upload that holds a reservation already
   * changes nothing and succeeds.
   */
  reserve(ownerId: string, uploadId: string, bytes: number, quotaBytes: number): Promise<Reservation>;
  /** Bytes the owner's reservations hold. */
  usedBytes(ownerId: string): Promise<number>;
  /**
   * Records that a video shows media made from the upload (idempotent). False, and nothing
   * recorded, when the upload holds no reservation: its media must not be published.
   */
  addVideo(ownerId: string, uploadId: string, videoId: string): Promise<boolean>;
  /** Forgets a video of the upload; returns how many videos still show its media. */
  removeVideo(ownerId: string, uploadId: string, videoId: string): Promise<number>;
  /** The videos recorded as showing the upload's media, in id order. */
  videos(ownerId: string, uploadId: string): Promise<string[]>;
  /** Gives the upload's bytes back, unless a video still shows its media. */
  release(ownerId: string, uploadId: string): Promise<ReleaseOutcome>;

  // ---- the upload lock: one request at a time acts on an upload, whichever process took it

  /** Takes the upload's lock for `ttlMs` under `token` unless someone holds it. True when taken. */
  lock(uploadId: string, token: string, ttlMs: number): Promise<boolean>;
  /** Extends a held lock; says whether another request asked for it meanwhile. */
  renewLock(uploadId: string, token: string, ttlMs: number): Promise<LockRenewal>;
  /** Lets go of the lock if `token` still holds it. */
  unlock(uploadId: string, token: string): Promise<void>;
  /** Asks whoever holds the lock to let go soon (seen on its next renewal); the request lapses after `ttlMs`. */
  requestUnlock(uploadId: string, ttlMs: number): Promise<void>;

  // ---- which job processes an upload (uploads whose files are not on a shared disk)

  /** Records `jobId` unless a job is recorded already; returns the one recorded afterwards. */
  linkJob(uploadId: string, jobId: string): Promise<string>;
  /** The job recorded for the upload, or null. */
  jobOf(uploadId: string): Promise<string | null>;
  unlinkJob(uploadId: string): Promise<void>;
}
