/**
 * MediaReclaimer: gives back what an upload holds once nothing shows it any more: its
 * source file, the media its job made, and its reservation of the owner's quota
 * (storage/uploads.ts keeps the reservation and the videos showing the upload's media).
 *
 * - Deleting the last video that shows an upload's media removes the media, the source and
 *   the reservation before the DELETE is answered, so the video's signed URLs stop serving
 *   at once. Other videos published from the same upload keep it all until they go too.
 * - A removed upload (terminated, expired, refused by its checksum) gives its reservation
 *   back and stops its job, unless a video still shows media made from it: that video keeps
 *   the media and the reservation.
 * - A sweep, when the process starts and then periodically, finishes what a crash cut short
 *   (any process may run it, several at once): unfinished uploads past their expiry, media of
 *   failed or cancelled jobs, media no existing video shows, and, when storage does not
 *   outlive the process (the memory driver), media whose job storage does not know: an
 *   earlier run's, whose videos went with it. With durable storage an unknown job means a
 *   misconfiguration (another REDIS_PREFIX, another Redis), so the sweep leaves its media alone.
 *
 * Order matters where a crash can fall between two steps: the reservation is released first
 * (storage refuses while a video shows the media, so a video published meanwhile wins), the
 * files after, so what a crash leaves behind is media or a source without a reservation,
 * which the sweep finds; never a reservation freed while its media is still served.
 */
import { isPartial, OWNER_METADATA_KEY } from '../domain/uploads.ts';
import type { MediaRefs, VideoRecord } from '../protocol/model.ts';
import { FINAL_STAGES, type JobRecord, type JobStore } from '../storage/jobs.ts';
import type { MediaStore } from '../storage/media/media-store.ts';
import type { UploadFileStore } from '../storage/media/upload-files.ts';
import type { VideoStore } from '../storage/store.ts';
import type { UploadStore } from '../storage/uploads.ts';

export interface MediaReclaimerDeps {
  jobs: JobStore;
  uploads: UploadStore;
  videos: Pick<VideoStore, 'getMany'>;
  media: MediaStore;
  files: UploadFileStore;
  /** Stops a job that has not finished; its runner removes what it wrote. */
  cancelJob: (job: JobRecord) => Promise<void>;
  /** Unfinished uploads are removed this long after their creation (UPLOAD_EXPIRY_S). */
  expiryMs: number;
  /** True when storage does not outlive the process (memory driver): media of jobs it does not know is an earlier run's. */
  forgetsOnRestart: boolean;
  onError: (err: unknown, context: string) => void;
}

export class MediaReclaimer {
  readonly #d: MediaReclaimerDeps;

  constructor(deps: MediaReclaimerDeps) {
    this.#d = deps;
  }

  /**
   * A video was deleted (storage no longer has it): forget it, and when no video shows its
   * media any more, remove the media and the source upload and release the reservation.
   */
  async videoDeleted(video: VideoRecord): Promise<void> {
    const mediaId = storedMediaId(video.media);
    if (mediaId === undefined) return; // hosted elsewhere, or no media
    const job = await this.#d.jobs.get(mediaId);
    if (!job) return this.#d.media.remove(mediaId); // its job is lost: nothing else is known to show it
    await this.#d.uploads.removeVideo(job.ownerId, job.uploadId, video.id);
    await this.#reclaim(job);
  }

  /**
   * An upload's files are gone: release its reservation and stop (or clean up after) its
   * job, unless a video still shows media made from it; then that video keeps both.
   */
  async uploadRemoved(ownerId: string, uploadId: string): Promise<void> {
    const jobId = await this.#d.files.jobOf(uploadId);
    const job = jobId ? await this.#d.jobs.get(jobId) : null;
    if (job?.stage === 'ready' && (await this.#shown(job))) return;
    if ((await this.#d.uploads.release(ownerId, uploadId)) === 'held') return;
    await this.#d.files.unlinkJob(uploadId);
    if (!job) return;
    if (FINAL_STAGES.has(job.stage)) await this.#d.media.remove(job.id);
    else await this.#d.cancelJob(job);
  }

  /** Finishes what a crash or a restart cut short; every step is idempotent. */
  async sweep(now: number): Promise<void> {
    const { files, jobs, media, onError } = this.#d;
    for (const upload of await files.list()) {
      // finished: kept until removed or reclaimed; a finished partial (concatenation) still expires
      if (upload.size !== undefined && upload.offset >= upload.size && !isPartial(upload)) continue;
      if (!(Date.parse(upload.creationDate ?? '') + this.#d.expiryMs <= now)) continue;
      try {
        await files.remove(upload.id);
        const owner = upload.metadata[OWNER_METADATA_KEY];
        if (owner) await this.uploadRemoved(owner, upload.id);
      } catch (err) {
        onError(err, `removing expired upload ${upload.id}`);
      }
    }
    for (const mediaId of await media.list()) {
      try {
        const job = await jobs.get(mediaId);
        if (!job) {
          if (this.#d.forgetsOnRestart) await media.remove(mediaId);
        } else if (job.stage === 'ready') {
          await this.#reclaim(job);
        } else if (FINAL_STAGES.has(job.stage)) {
          await media.remove(mediaId); // failed or cancelled: its runner died before cleaning up
        }
      } catch (err) {
        onError(err, `reclaiming media ${mediaId}`);
      }
    }
  }

  /** Removes a ready job's media, its source upload and its reservation, unless a video shows the media. */
  async #reclaim(job: JobRecord): Promise<void> {
    if (await this.#shown(job)) return;
    if ((await this.#d.uploads.release(job.ownerId, job.uploadId)) === 'held') return; // published from meanwhile
    await this.#d.media.remove(job.id);
    await this.#d.files.remove(job.uploadId);
    await this.#d.files.unlinkJob(job.uploadId);
  }

  /**
   * True when an existing video shows the job's media: one recorded on its upload, or the
   * video the job published (recorded too, unless it was published before videos were
   * recorded). Recorded videos that no longer exist are forgotten on the way.
   */
  async #shown(job: JobRecord): Promise<boolean> {
    const { uploads, videos } = this.#d;
    const recorded = await uploads.videos(job.ownerId, job.uploadId);
    const candidates = [...new Set([...recorded, ...(job.videoId ? [job.videoId] : [])])];
    const states = await videos.getMany(candidates);
    let shown = false;
    for (const [i, id] of candidates.entries()) {
      if (states[i]) shown = true;
      else if (recorded.includes(id)) await uploads.removeVideo(job.ownerId, job.uploadId, id);
    }
    return shown;
  }
}

/**
 * The id a video's stored media lives under (the job that made it: the runner publishes
 * paths `<jobId>/...`), or undefined for media hosted elsewhere.
 */
export function storedMediaId(media: MediaRefs): string | undefined {
  for (const path of [media.mp4, media.hls, media.poster]) {
    if (path === undefined || /^([a-z][a-z0-9+.-]*:|\/)/i.test(path)) continue;
    const slash = path.indexOf('/');
    if (slash > 0) return path.slice(0, slash);
  }
  return undefined;
}
