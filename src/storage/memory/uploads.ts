/**
 * Upload quotas in memory: per owner, the bytes each upload reserved and the videos that show
 * media made from it. Each method runs to completion synchronously, so a reservation is atomic
 * (the Redis driver does the same in one Lua script).
 */
import type { LockRenewal, ReleaseOutcome, Reservation, UploadStore } from '../uploads.ts';
import type { MemoryTables } from './tables.ts';

export class MemoryUploads implements UploadStore {
  /** Upload id -> lock holder; one process only, so this map is the whole truth. */
  readonly #locks = new Map<string, { token: string; until: number; releaseUntil: number }>();
  readonly #jobLinks = new Map<string, string>();

  /** `now` reads the time locks expire by (ms since epoch). */
  constructor(
    private readonly tables: MemoryTables,
    private readonly now: () => number = Date.now,
  ) {}

  async reserve(ownerId: string, uploadId: string, bytes: number, quotaBytes: number): Promise<Reservation> {
    let owner = this.tables.quotas.get(ownerId);
    const used = owner?.used ?? 0;
    if (owner?.uploads.has(uploadId)) return { ok: true, usedBytes: used };
    if (used + bytes > quotaBytes) return { ok: false, usedBytes: used };
    if (!owner) this.tables.quotas.set(ownerId, (owner = { used: 0, uploads: new Map() }));
    owner.uploads.set(uploadId, { bytes, videos: new Set() });
    owner.used += bytes;
    return { ok: true, usedBytes: owner.used };
  }

  async usedBytes(ownerId: string): Promise<number> {
    return this.tables.quotas.get(ownerId)?.used ?? 0;
  }

  async addVideo(ownerId: string, uploadId: string, videoId: string): Promise<boolean> {
    const row = this.tables.quotas.get(ownerId)?.uploads.get(uploadId);
    row?.videos.add(videoId);
    return row !== undefined;
  }

  async removeVideo(ownerId: string, uploadId: string, videoId: string): Promise<number> {
    const row = this.tables.quotas.get(ownerId)?.uploads.get(uploadId);
    row?.videos.delete(videoId);
    return row?.videos.size ?? 0;
  }

  async videos(ownerId: string, uploadId: string): Promise<string[]> {
    return [...(this.tables.quotas.get(ownerId)?.uploads.get(uploadId)?.videos ?? [])].sort();
  }

  async release(ownerId: string, uploadId: string): Promise<ReleaseOutcome> {
    const owner = this.tables.quotas.get(ownerId);
    const row = owner?.uploads.get(uploadId);
    if (!owner || !row) return 'absent';
    if (row.videos.size > 0) return 'held';
    owner.uploads.delete(uploadId);
    owner.used -= row.bytes;
    if (owner.uploads.size === 0) this.tables.quotas.delete(ownerId);
    return 'released';
  }

  async lock(uploadId: string, token: string, ttlMs: number): Promise<boolean> {
    const held = this.#locks.get(uploadId);
    if (held && held.until > this.now() && held.token !== token) return false;
    this.#locks.set(uploadId, { token, until: this.now() + ttlMs, releaseUntil: 0 });
    return true;
  }

  async renewLock(uploadId: string, token: string, ttlMs: number): Promise<LockRenewal> {
    const held = this.#locks.get(uploadId);
    if (!held || held.token !== token || held.until <= this.now()) return 'lost';
    held.until = this.now() + ttlMs;
    return held.releaseUntil > this.now() ? 'release-requested' : 'held';
  }

  async unlock(uploadId: string, token: string): Promise<void> {
    if (this.#locks.get(uploadId)?.token === token) this.#locks.delete(uploadId);
  }

  async requestUnlock(uploadId: string, ttlMs: number): Promise<void> {
    const held = this.#locks.get(uploadId);
    if (held) held.releaseUntil = this.now() + ttlMs;
  }

  async linkJob(uploadId: string, jobId: string): Promise<string> {
    const linked = this.#jobLinks.get(uploadId);
    if (linked !== undefined) return linked;
    this.#jobLinks.set(uploadId, jobId);
    return jobId;
  }

  async jobOf(uploadId: string): Promise<string | null> {
    return this.#jobLinks.get(uploadId) ?? null;
  }

  async unlinkJob(uploadId: string): Promise<void> {
    this.#jobLinks.delete(uploadId);
  }
}
