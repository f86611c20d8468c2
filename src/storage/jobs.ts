/**
 * Where media-job records live (the record and its stages: domain/jobs.ts). A job runs in
 * exactly one process at a time: the process that claims it holds a lease it keeps
 * renewing; a lease left by a dead process lapses and another claims the job.
 *
 * Every write that changes a job's stage appends a `job_stage` interaction event in the same
 * atomic write (and `create` an `upload` event when given the upload's facts), so the
 * behaviour log holds each stage exactly once and in order. Unlike interactions, these
 * events are never refused for a full log (EXPORT_MAX_LAG): a media job must be able to
 * finish whatever the exporter does, and a job makes at most a handful of them.
 */
import type { JobRecord } from '../domain/jobs.ts';
import type { UploadFacts } from './interaction-events.ts';

export type { UploadFacts };

export { FINAL_STAGES, type JobRecord, type JobStage } from '../domain/jobs.ts';

export type JobPatch = Partial<Pick<JobRecord, 'stage' | 'percent' | 'error' | 'videoId' | 'cancelRequested'>>;

export interface JobStore {
  /** Records a new job (its `job_stage` event, and an `upload` event when `upload` is given). */
  create(job: JobRecord, upload?: UploadFacts): Promise<void>;
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
