/**
 * The media routes, registered together: tus uploads at `/v1/uploads`, jobs at `/v1/jobs`
 * (both over the JobsService, src/media/jobs.ts) and the signed `/media/*` files.
 *
 * Without media tools in this process (`jobs.available` false), nothing new is accepted: no
 * upload started or continued, no job started; reading, cancelling and deleting what exists
 * still works, and so does serving media made elsewhere.
 */
import type { FastifyInstance } from 'fastify';
import type { UploadMetrics } from '../../metrics.ts';
import type { JobsService } from '../../media/jobs.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { jobRoutes } from '../http/routes/jobs.ts';
import { uploadRoutes, type UploadLimits } from '../http/routes/uploads.ts';
import { mediaRoutes, type MediaDelivery, type ServedMedia } from './routes.ts';
import type { MediaSigner } from './signing.ts';

export interface MediaPluginOptions {
  jobs: JobsService;
  /** Where finished media is read from. */
  files: ServedMedia;
  signer: MediaSigner;
  /** How files of a store that presigns (a bucket) are answered, and the presigned URLs' lifetime. */
  delivery?: MediaDelivery;
  limits: UploadLimits;
  /** Base URL for Location headers (PUBLIC_URL); else taken from the request's Host. */
  publicUrl?: string;
  /** Other sites' origins allowed to read upload answers (CORS_ORIGINS). */
  corsOrigins?: readonly string[];
  /** Bytes received and requests receiving now. */
  metrics?: UploadMetrics;
  onError: (err: unknown, context: string) => void;
}

export async function mediaPlugin(app: FastifyInstance, opts: MediaPluginOptions): Promise<void> {
  const { jobs } = opts;
  await app.register(async (scope) => {
    if (!jobs.available) {
      scope.addHook('onRequest', async (req) => {
        if (req.method === 'POST' || req.method === 'PATCH') throw new TremoloError('E_MEDIA_UNAVAILABLE');
      });
    }
    await scope.register(uploadRoutes, {
      files: jobs.files,
      limits: opts.limits,
      ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
      ...(opts.corsOrigins ? { corsOrigins: opts.corsOrigins } : {}),
      reserveQuota: (userId, uploadId, bytes) => jobs.reserveQuota(userId, uploadId, bytes),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(jobs.uploadLocker ? { locker: jobs.uploadLocker } : {}),
      startJob: async (upload, userId, trace) => ({ jobId: (await jobs.start(upload.id, userId, trace)).job.id }),
      onRemoved: (uploadId, userId) => jobs.uploadRemoved(uploadId, userId),
      onError: opts.onError,
    });
    await scope.register(jobRoutes, {
      startJob: (uploadId, userId, trace) => jobs.start(uploadId, userId, trace),
      getJob: (jobId, userId) => jobs.get(jobId, userId),
      cancelJob: (jobId, userId) => jobs.cancel(jobId, userId),
    });
  });
  await app.register(mediaRoutes, { signer: opts.signer, store: opts.files, ...(opts.delivery ? { delivery: opts.delivery } : {}) });
}
