/**
 * Media jobs on Redis: a hash per job and an index of the jobs not yet final, all under
 * the `{jobs}` hash tag so the claim script can scan them in one slot; their interaction
 * events go to the interaction stream of that slot, from the same scripts.
 */
import { INTERACTION_SCHEMA_VERSION } from '../../protocol/interactions.ts';
import { jobStageEvent, uploadEvent } from '../interaction-events.ts';
import type { JobPatch, JobRecord, JobStage, JobStore, UploadFacts } from '../jobs.ts';
import { FINAL_STAGES } from '../jobs.ts';
import { asArray, type RedisContext } from './context.ts';
import { boundArgs } from './interactions.ts';
import { io } from './scripts.ts';

/** The hash tag every job key shares; its slot's stream takes the job events. */
const JOBS_TAG = 'jobs';
/** Used-up jobs one claim may mark failed (one event id each); the rest wait for the next claim. */
const CLAIM_FAILURES_MAX = 4;

const FINALS = [...FINAL_STAGES].join(',');

type JobField = keyof JobRecord;
const JOB_NUMBERS: ReadonlySet<JobField> = new Set(['percent', 'attempts', 'leaseUntil']);
const JOB_FIELDS: ReadonlySet<string> = new Set<JobField>([
  'id',
  'ownerId',
  'uploadId',
  'title',
  'description',
  'stage',
  'percent',
  'attempts',
  'createdAt',
  'updatedAt',
  'error',
  'videoId',
  'leaseOwner',
  'leaseUntil',
  'cancelRequested',
  'traceparent',
  'tracestate',
]);

/** One hash field per property: strings as is, numbers in decimal, `error` as JSON. */
function encodeJobValue(field: JobField, value: unknown): string {
  if (field === 'error') return JSON.stringify(value);
  if (field === 'cancelRequested') return value ? '1' : '0';
  return String(value);
}

function encodeJobFields(values: Partial<JobRecord>): { set: string[]; unset: string[] } {
  const set: string[] = [];
  const unset: string[] = [];
  for (const [field, value] of Object.entries(values)) {
    if (!JOB_FIELDS.has(field)) continue;
    if (value === undefined) unset.push(field);
    else set.push(field, encodeJobValue(field as JobField, value));
  }
  return { set, unset };
}

function decodeJob(reply: unknown): JobRecord | null {
  const flat = asArray(reply) as string[];
  if (flat.length === 0) return null;
  const job: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const field = flat[i]! as JobField;
    const raw = flat[i + 1]!;
    if (field === 'error') job.error = JSON.parse(raw) as JobRecord['error'];
    else if (field === 'cancelRequested') job.cancelRequested = raw === '1';
    else if (JOB_NUMBERS.has(field)) job[field] = Number(raw);
    else job[field] = raw;
  }
  return job as unknown as JobRecord;
}

/** The JobStore of the Redis driver. */
export class RedisJobs implements JobStore {
  constructor(private readonly ctx: RedisContext) {}

  async create(job: JobRecord, upload?: UploadFacts): Promise<void> {
    const { keys, scripts, streams, interactions, eventId } = this.ctx;
    const { set } = encodeJobFields(job);
    const stream = await streams.streamFor(JOBS_TAG);
    await scripts.run('job-create', [keys.job(job.id), keys.activeJobs(), stream], [
      job.id,
      FINAL_STAGES.has(job.stage) ? '1' : '0',
      ...boundArgs(interactions),
      upload ? JSON.stringify(uploadEvent(job, upload, eventId())) : '',
      JSON.stringify(jobStageEvent(job, eventId(), Date.parse(job.createdAt))),
      ...set,
    ]);
  }

  async get(id: string): Promise<JobRecord | null> {
    const { client, keys } = this.ctx;
    const hash = await io(() => client.hgetall(keys.job(id)));
    return decodeJob(Object.entries(hash).flat());
  }

  async update(id: string, patch: JobPatch, opts: { now: number; owner?: string }): Promise<JobRecord | null> {
    const { keys, scripts, streams, interactions, eventId } = this.ctx;
    const { set, unset } = encodeJobFields({ ...patch, updatedAt: new Date(opts.now).toISOString() });
    if (patch.stage !== undefined && FINAL_STAGES.has(patch.stage as JobStage)) unset.push('leaseOwner', 'leaseUntil');
    const stream = await streams.streamFor(JOBS_TAG);
    const reply = await scripts.run('job-update', [keys.job(id), keys.activeJobs(), stream], [
      id,
      opts.owner === undefined ? '0' : '1',
      opts.owner ?? '',
      FINALS,
      ...boundArgs(interactions),
      INTERACTION_SCHEMA_VERSION,
      // an id is spent only when the patch changes the stage (a TSID per call is cheap)
      patch.stage === undefined ? '' : eventId(),
      opts.now,
      set.length / 2,
      ...set,
      ...unset,
    ]);
    return decodeJob(reply);
  }

  async claim(owner: string, opts: { now: number; leaseMs: number; maxAttempts: number }): Promise<JobRecord | null> {
    const { keys, scripts, streams, interactions, eventId } = this.ctx;
    const stream = await streams.streamFor(JOBS_TAG);
    const reply = await scripts.run(
      'job-claim',
      [keys.activeJobs(), stream],
      [
        keys.jobPrefix(),
        owner,
        opts.now,
        opts.now + opts.leaseMs,
        opts.maxAttempts,
        new Date(opts.now).toISOString(),
        FINALS,
        ...boundArgs(interactions),
        INTERACTION_SCHEMA_VERSION,
        ...Array.from({ length: CLAIM_FAILURES_MAX }, () => eventId()),
      ],
    );
    return decodeJob(reply);
  }

  async renew(id: string, owner: string, opts: { now: number; leaseMs: number }): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('job-renew', [keys.job(id)], [owner, opts.now + opts.leaseMs, FINALS])) === 1;
  }

  async release(id: string, owner: string): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.run('job-release', [keys.job(id)], [owner, FINALS])) === 1;
  }
}
