/**
 * Upload quotas on Redis. Every key of one user's quota shares the user's hash tag
 * (keys.ts `reservations`), so each script touches one slot and a reservation is atomic.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { LockRenewal, ReleaseOutcome, Reservation, UploadStore } from '../uploads.ts';
import { asArray, type RedisContext } from './context.ts';
import { io } from './scripts.ts';

export class RedisUploads implements UploadStore {
  constructor(private readonly ctx: RedisContext) {}

  async reserve(ownerId: string, uploadId: string, bytes: number, quotaBytes: number): Promise<Reservation> {
    const { keys, scripts } = this.ctx;
    const reply = asArray(
      await scripts.run('upload-reserve', [keys.reservations(ownerId), keys.reservedBytes(ownerId)], [uploadId, bytes, quotaBytes]),
    );
    return { ok: reply[0] === 1, usedBytes: Number(reply[1]) };
  }

  async usedBytes(ownerId: string): Promise<number> {
    const { client, keys } = this.ctx;
    return Number((await io(() => client.get(keys.reservedBytes(ownerId)))) ?? 0);
  }

  async addVideo(ownerId: string, uploadId: string, videoId: string): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('upload-add-video', [keys.reservations(ownerId), keys.uploadVideos(ownerId, uploadId)], [uploadId, videoId])) === 1;
  }

  async removeVideo(ownerId: string, uploadId: string, videoId: string): Promise<number> {
    const { keys, scripts } = this.ctx;
    return Number(await scripts.run('upload-remove-video', [keys.uploadVideos(ownerId, uploadId)], [videoId]));
  }

  async videos(ownerId: string, uploadId: string): Promise<string[]> {
    const { client, keys } = this.ctx;
    return (await io(() => client.smembers(keys.uploadVideos(ownerId, uploadId)))).sort();
  }

  async release(ownerId: string, uploadId: string): Promise<ReleaseOutcome> {
    const { keys, scripts } = this.ctx;
    const reply = await scripts.run(
      'upload-release',
      [keys.reservations(ownerId), keys.reservedBytes(ownerId), keys.uploadVideos(ownerId, uploadId)],
      [uploadId],
    );
    if (reply === 'released' || reply === 'held' || reply === 'absent') return reply;
    throw new TremoloError('E_INTERNAL', undefined, { cause: new Error(`upload-release answered ${String(reply)}`) });
  }

  async lock(uploadId: string, token: string, ttlMs: number): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('upload-lock', [keys.uploadLock(uploadId), keys.uploadUnlockRequest(uploadId)], [token, ttlMs])) === 1;
  }

  async renewLock(uploadId: string, token: string, ttlMs: number): Promise<LockRenewal> {
    const { keys, scripts } = this.ctx;
    const reply = Number(await scripts.run('upload-lock-renew', [keys.uploadLock(uploadId), keys.uploadUnlockRequest(uploadId)], [token, ttlMs]));
    return reply === 2 ? 'release-requested' : reply === 1 ? 'held' : 'lost';
  }

  async unlock(uploadId: string, token: string): Promise<void> {
    const { keys, scripts } = this.ctx;
    await scripts.run('upload-unlock', [keys.uploadLock(uploadId), keys.uploadUnlockRequest(uploadId)], [token]);
  }

  async requestUnlock(uploadId: string, ttlMs: number): Promise<void> {
    const { client, keys } = this.ctx;
    await io(() => client.set(keys.uploadUnlockRequest(uploadId), '1', 'PX', ttlMs));
  }

  async linkJob(uploadId: string, jobId: string): Promise<string> {
    const { client, keys } = this.ctx;
    // SET NX GET answers the value that was there (null when ours went in): one round trip, atomic
    const before = await io(() => client.set(keys.uploadJob(uploadId), jobId, 'NX', 'GET'));
    return before ?? jobId;
  }

  async jobOf(uploadId: string): Promise<string | null> {
    const { client, keys } = this.ctx;
    return io(() => client.get(keys.uploadJob(uploadId)));
  }

  async unlinkJob(uploadId: string): Promise<void> {
    const { client, keys } = this.ctx;
    await io(() => client.del(keys.uploadJob(uploadId)));
  }
}
