/**
 * Media jobs over REST: start the job of a finished upload, watch it, cancel it.
 * Live progress goes to the owner's sockets as `job:progress`; these routes are for
 * clients without a socket and for picking up after a reconnect.
 */
import type { FastifyInstance } from 'fastify';
import type { JobRecord } from '../../../domain/jobs.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import { userOf } from '../server.ts';
import type { TraceContext } from '../../../telemetry/tracing.ts';

/** What a client sees of a job: no lease bookkeeping. */
export interface JobView {
  id: string;
  uploadId: string;
  title: string;
  description: string;
  stage: JobRecord['stage'];
  percent: number;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  videoId?: string;
  error?: { code: string; message: string };
  cancelRequested?: boolean;
}

export function jobView(job: JobRecord): JobView {
  return {
    id: job.id,
    uploadId: job.uploadId,
    title: job.title,
    description: job.description,
    stage: job.stage,
    percent: job.percent,
    attempts: job.attempts,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.videoId !== undefined ? { videoId: job.videoId } : {}),
    ...(job.error !== undefined ? { error: job.error } : {}),
    ...(job.cancelRequested ? { cancelRequested: true } : {}),
  };
}

export interface JobRouteDeps {
  /** The upload's job, created if it has none; E_QUEUE_FULL when this process has no room. */
  /** `trace`: the request's span, parent of the job's creation. */
  startJob: (uploadId: string, userId: string, trace?: TraceContext) => Promise<{ job: JobRecord; created: boolean }>;
  /** The caller's job; E_JOB_NOT_FOUND for anyone else's. */
  getJob: (jobId: string, userId: string) => Promise<JobRecord>;
  /** Cancels a queued or running job; E_JOB_FINISHED once it has ended. */
  cancelJob: (jobId: string, userId: string) => Promise<JobRecord>;
}

const jobSchema = {
  type: 'object',
  required: ['id', 'uploadId', 'title', 'description', 'stage', 'percent', 'attempts', 'createdAt', 'updatedAt'],
  properties: {
    id: schemas.id,
    uploadId: schemas.uploadId,
    title: { type: 'string' },
    description: { type: 'string' },
    stage: { type: 'string', enum: ['queued', 'probing', 'transcoding', 'tagging', 'ready', 'failed', 'cancelled'] },
    percent: { type: 'number', minimum: 0, maximum: 100 },
    attempts: { type: 'integer', minimum: 0 },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    videoId: { ...schemas.id, description: 'The published video, once ready' },
    error: {
      type: 'object',
      required: ['code', 'message'],
      description: 'Why it failed (E_MEDIA_INVALID, E_MEDIA_TOO_LONG, E_JOB_TIMEOUT, ...)',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    cancelRequested: { type: 'boolean', description: 'Cancelled while running: it stops at its next heartbeat' },
  },
} as const;

export async function jobRoutes(app: FastifyInstance, deps: JobRouteDeps): Promise<void> {
  const security = [{ bearer: [] }];

  app.post<{ Body: { uploadId: string } }>(
    '/v1/jobs',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['uploads'],
        operationId: 'startJob',
        summary: 'Start the job of a finished upload (idempotent: an upload has one job; 200 when it exists already)',
        security,
        body: { type: 'object', required: ['uploadId'], additionalProperties: false, properties: { uploadId: schemas.uploadId } },
        response: {
          201: { ...jobSchema, description: 'Started' },
          200: { ...jobSchema, description: 'The job the upload already has' },
          // E_QUEUE_FULL: no room in this process's pool; E_MEDIA_UNAVAILABLE: no usable ffmpeg here
          ...errorResponses('E_UPLOAD_NOT_FOUND', 'E_QUEUE_FULL', 'E_MEDIA_UNAVAILABLE', 'E_BUSY', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req, reply) => {
      const { job, created } = await deps.startJob(req.body.uploadId, userOf(req), req.span?.context);
      return reply.code(created ? 201 : 200).send(jobView(job));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['uploads'],
        operationId: 'getJob',
        summary: 'A job of yours: its stage and progress',
        security,
        params: schemas.idParams,
        response: { 200: jobSchema, ...errorResponses('E_JOB_NOT_FOUND', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => jobView(await deps.getJob(req.params.id, userOf(req))),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      preHandler: app.requireUser,
      schema: {
        tags: ['uploads'],
        operationId: 'cancelJob',
        summary: 'Cancel a job: queued ones at once, running ones at their next heartbeat (202)',
        security,
        params: schemas.idParams,
        response: { 202: { ...jobSchema, description: 'Cancelled, or to be at its next heartbeat' }, ...errorResponses('E_JOB_NOT_FOUND', 'E_JOB_FINISHED', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req, reply) => reply.code(202).send(jobView(await deps.cancelJob(req.params.id, userOf(req)))),
  );
}
