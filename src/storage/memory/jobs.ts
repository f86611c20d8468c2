/** Media jobs in memory: one table of job records; a claim scans it in id (creation) order. */
import { jobStageEvent, uploadEvent } from '../interaction-events.ts';
import type { JobPatch, JobRecord, JobStore, UploadFacts } from '../jobs.ts';
import { FINAL_STAGES } from '../jobs.ts';
import { copy, type MemoryTables } from './tables.ts';

/** The JobStore of the memory driver. */
export class MemoryJobs implements JobStore {
  private readonly rows: Map<string, JobRecord>;

  constructor(private readonly tables: MemoryTables) {
    this.rows = tables.jobs;
  }

  async create(job: JobRecord, upload?: UploadFacts): Promise<void> {
    this.rows.set(job.id, copy(job));
    const { interactions, eventId } = this.tables;
    if (upload) interactions.append(uploadEvent(job, upload, eventId()));
    interactions.append(jobStageEvent(job, eventId(), Date.parse(job.createdAt)));
  }

  /** The job's stage event, when `before` was another stage (same write as the change). */
  private staged(job: JobRecord, before: string, at: number): void {
    if (job.stage !== before) this.tables.interactions.append(jobStageEvent(job, this.tables.eventId(), at));
  }

  async get(id: string): Promise<JobRecord | null> {
    const job = this.rows.get(id);
    return job ? copy(job) : null;
  }

  async update(id: string, patch: JobPatch, opts: { now: number; owner?: string }): Promise<JobRecord | null> {
    const job = this.rows.get(id);
    if (!job) return null;
    if (opts.owner !== undefined && (job.leaseOwner !== opts.owner || FINAL_STAGES.has(job.stage))) return null;
    const before = job.stage;
    Object.assign(job, copy(patch), { updatedAt: new Date(opts.now).toISOString() });
    if (patch.stage && FINAL_STAGES.has(patch.stage)) {
      delete job.leaseOwner;
      delete job.leaseUntil;
    }
    this.staged(job, before, opts.now);
    return copy(job);
  }

  async claim(owner: string, opts: { now: number; leaseMs: number; maxAttempts: number }): Promise<JobRecord | null> {
    const candidates = [...this.rows.values()]
      .filter((j) => !FINAL_STAGES.has(j.stage) && (j.leaseUntil === undefined || j.leaseUntil <= opts.now))
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const job of candidates) {
      const updatedAt = new Date(opts.now).toISOString();
      if (job.attempts >= opts.maxAttempts) {
        const before = job.stage;
        Object.assign(job, {
          stage: 'failed',
          updatedAt,
          error: { code: 'E_JOB_TIMEOUT', message: `gave up after ${job.attempts} attempts` },
        });
        delete job.leaseOwner;
        delete job.leaseUntil;
        this.staged(job, before, opts.now);
        continue;
      }
      Object.assign(job, { attempts: job.attempts + 1, leaseOwner: owner, leaseUntil: opts.now + opts.leaseMs, updatedAt });
      return copy(job);
    }
    return null;
  }

  async renew(id: string, owner: string, opts: { now: number; leaseMs: number }): Promise<boolean> {
    const job = this.rows.get(id);
    if (!job || job.leaseOwner !== owner || FINAL_STAGES.has(job.stage)) return false;
    job.leaseUntil = opts.now + opts.leaseMs;
    return true;
  }

  async release(id: string, owner: string): Promise<boolean> {
    const job = this.rows.get(id);
    if (!job || job.leaseOwner !== owner || FINAL_STAGES.has(job.stage)) return false;
    delete job.leaseOwner;
    delete job.leaseUntil;
    job.attempts = Math.max(0, job.attempts - 1);
    return true;
  }
}
