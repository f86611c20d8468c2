/**
 * A media job, as every layer sees it. A job moves
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
  /**
   * W3C `traceparent` of the span that created the job (tracing on): every attempt, in whichever
   * process claims it, continues this trace, so a job taken over after a crash stays one trace.
   */
  traceparent?: string;
  /** W3C `tracestate` that came with that context (vendors' entries), passed on with it. */
  tracestate?: string;
}
