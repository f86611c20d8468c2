/**
 * Durable media-job records. A job moves
 *   queued -> probing -> transcoding -> tagging -> ready | failed | cancelled
 * and runs in exactly one process at a time: the process that claims it holds a lease
 * it keeps renewing; a lease left by a dead process lapses and another claims the job.
 */
export type JobStage = 'queued' | 'probing' | 'transcoding' | 'tagging' | 'ready' | 'failed' | 'cancelled';

export const FINAL_STAGES: ReadonlySet<JobStage> = new Set(['ready', 'failed', 'cancelled']);

export interface JobRecord {
  id: string;
  ownerId: string;
  uploadId: string;
  title: string;
  description: string;
  stage: JobStage;
  percent: number;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  /** Set when the stage is `failed`, or when tagging failed but the video was still published. */
  error?: { code: string; message: string };
  videoId?: string;
  /** Node id of the process holding the lease, and when the lease lapses (ms since epoch). */
  leaseOwner?: string;
  leaseUntil?: number;
  /** Set by DELETE /v1/jobs/:id; the lease holder sees it and stops. */
  cancelRequested?: boolean;
}

export type JobPatch = Partial<Pick<JobRecord, 'stage' | 'percent' | 'error' | 'videoId' | 'cancelRequested'>>;

export interface JobStore {
  create(job: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | null>;
  /** Applies a patch; with `owner`, only while that owner holds the lease (else null). */
  update(id: string, patch: JobPatch, opts: { now: number; owner?: string }): Promise<JobRecord | null>;
  /**
   * Claims the oldest job that is queued or whose lease has lapsed, counting an attempt.
   * A job whose attempts would exceed `maxAttempts` is marked failed instead.
   */
  claim(owner: string, opts: { now: number; leaseMs: number; maxAttempts: number }): Promise<JobRecord | null>;
  /** Extends the lease; false when `owner` no longer holds it. */
  renew(id: string, owner: string, opts: { now: number; leaseMs: number }): Promise<boolean>;
  /**
   * Gives the lease up (graceful shutdown): claimable at once by any process, and the
   * interrupted attempt is not counted. False when `owner` no longer holds it.
   */
  release(id: string, owner: string): Promise<boolean>;
}
