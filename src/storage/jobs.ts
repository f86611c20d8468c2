/**
 * Where media-job records live (the record and its stages: domain/jobs.ts). A job runs in
 * exactly one process at a time: the process that claims it holds a lease it keeps
 * renewing; a lease left by a dead process lapses and another claims the job.
 */
import type { JobRecord } from '../domain/jobs.ts';

export { FINAL_STAGES, type JobRecord, type JobStage } from '../domain/jobs.ts';

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
