/**
 * Uploaded source files under DATA_DIR/uploads, as the tus file store lays them out:
 * `<uploadId>` (the bytes) beside `<uploadId>.json` (tus's record: size, offset, metadata).
 *
 * Upload ids and metadata keys are domain/uploads.ts's; the owner kept in the metadata is
 * what ownership checks trust. The quota is not counted here but reserved in storage
 * (storage/uploads.ts), so that it holds across processes. Which job processes an upload
 * is recorded in DATA_DIR/upload-jobs/<uploadId>, created with link(2) so that of two
 * processes racing to start a job for the same upload exactly one wins.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FileStore } from '@tus/file-store';
import type { DataStore } from '@tus/server';
import { isUploadId, newUploadId, ownedUpload, parseChecksum, type UploadInfo } from '../../domain/uploads.ts';
import { TremoloError } from '../../protocol/errors.ts';

/**
 * Uploaded source files wherever they live (local files here, or a bucket: bucket-uploads.ts),
 * as the tus routes, the job runner and the reclaimer use them.
 */
export interface UploadFileStore {
  init(): Promise<void>;
  /** tus's data store over these files (the routes hand it to @tus/server). */
  tusStore(opts: { expiryMs: number }): DataStore;
  info(uploadId: string): Promise<UploadInfo | null>;
  /** The upload if it exists and belongs to `userId`; E_UPLOAD_NOT_FOUND otherwise (others' uploads look absent). */
  owned(uploadId: string, userId: string): Promise<UploadInfo>;
  /** Every upload (for sweeps). */
  list(): Promise<UploadInfo[]>;
  /** Removes an upload's bytes and its record; a missing upload is not an error. */
  remove(uploadId: string): Promise<void>;
  /** Cuts an upload's bytes back to `length` (bytes that failed a chunk checksum); never lengthens it. */
  truncate(uploadId: string, length: number): Promise<void>;
  /** Compares the bytes with a declared `<algorithm> <base64>` checksum. */
  checksumMatches(uploadId: string, declared: string): Promise<boolean>;
  /** The upload's bytes, from the first. */
  read(uploadId: string): Promise<Readable>;
  /** A local file holding the bytes, for ffmpeg; `release` removes it when it is a copy. */
  localCopy(uploadId: string, workDir?: string): Promise<{ path: string; release(): Promise<void> }>;
  /** The job recorded for an upload, or null. */
  jobOf(uploadId: string): Promise<string | null>;
  /** Records `jobId` as the upload's job unless one is recorded; returns the one recorded afterwards. */
  linkJob(uploadId: string, jobId: string): Promise<string>;
  unlinkJob(uploadId: string): Promise<void>;
}

export class UploadFiles implements UploadFileStore {
  readonly dir: string;
  readonly #jobsDir: string;

  constructor(opts: { dataDir: string }) {
    this.dir = join(opts.dataDir, 'uploads');
    this.#jobsDir = join(opts.dataDir, 'upload-jobs');
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await mkdir(this.#jobsDir, { recursive: true });
  }

  tusStore(opts: { expiryMs: number }): DataStore {
    return new FileStore({ directory: this.dir, expirationPeriodInMilliseconds: opts.expiryMs });
  }

  async read(uploadId: string): Promise<Readable> {
    return createReadStream(this.path(uploadId));
  }

  async localCopy(uploadId: string): Promise<{ path: string; release(): Promise<void> }> {
    return { path: this.path(uploadId), release: async () => {} }; // the file itself: nothing to copy
  }

  static newId(ownerId: string): string {
    return newUploadId(ownerId);
  }

  static isId(id: string): boolean {
    return isUploadId(id);
  }

  /** Absolute path of an upload's bytes. */
  path(uploadId: string): string {
    if (!UploadFiles.isId(uploadId)) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    return join(this.dir, uploadId);
  }

  async info(uploadId: string): Promise<UploadInfo | null> {
    if (!UploadFiles.isId(uploadId)) return null;
    try {
      const raw = JSON.parse(await readFile(join(this.dir, `${uploadId}.json`), 'utf8')) as {
        id?: unknown;
        size?: unknown;
        metadata?: unknown;
        creation_date?: unknown;
      };
      const bytes = await stat(join(this.dir, uploadId)).then((st) => st.size, () => 0);
      return {
        id: uploadId,
        ...(typeof raw.size === 'number' ? { size: raw.size } : {}),
        offset: bytes,
        metadata: raw.metadata && typeof raw.metadata === 'object' ? (raw.metadata as Record<string, string | null>) : {},
        ...(typeof raw.creation_date === 'string' ? { creationDate: raw.creation_date } : {}),
      };
    } catch {
      return null;
    }
  }

  /** The upload if it exists and belongs to `userId`; E_UPLOAD_NOT_FOUND otherwise (others' uploads look absent). */
  async owned(uploadId: string, userId: string): Promise<UploadInfo> {
    return ownedUpload(await this.info(uploadId), userId);
  }

  /** Every upload on disk (for sweeps: one read per upload). */
  async list(): Promise<UploadInfo[]> {
    const infos: UploadInfo[] = [];
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith('.json')) continue;
      const info = await this.info(name.slice(0, -'.json'.length));
      if (info) infos.push(info);
    }
    return infos;
  }

  /** Removes an upload's bytes and tus's record of it; a missing upload is not an error. */
  async remove(uploadId: string): Promise<void> {
    if (!UploadFiles.isId(uploadId)) return;
    // the record last: a removal cut short leaves a record that sweeps still find (bytes alone they would not)
    await rm(join(this.dir, uploadId), { force: true });
    await rm(join(this.dir, `${uploadId}.json`), { force: true });
  }

  /** Cuts an upload's bytes back to `length` (bytes that failed a chunk checksum); never lengthens it. */
  async truncate(uploadId: string, length: number): Promise<void> {
    if (!Number.isSafeInteger(length) || length < 0) return;
    const bytes = await stat(this.path(uploadId)).then((st) => st.size, () => 0);
    if (bytes > length) await truncate(this.path(uploadId), length);
  }

  /** Compares the file with a declared `<algorithm> <base64>` checksum. */
  async checksumMatches(uploadId: string, declared: string): Promise<boolean> {
    const { algorithm, digest } = parseChecksum(declared);
    const hash = createHash(algorithm);
    for await (const chunk of createReadStream(this.path(uploadId))) hash.update(chunk as Buffer);
    return hash.digest('base64') === digest;
  }

  /** The job recorded for an upload, or null. */
  async jobOf(uploadId: string): Promise<string | null> {
    if (!UploadFiles.isId(uploadId)) return null;
    const text = await readFile(join(this.#jobsDir, uploadId), 'utf8').catch(() => null);
    return text ? text.trim() : null;
  }

  /**
   * Records `jobId` as the upload's job unless one is recorded already; returns the job
   * that is recorded afterwards (ours, or the one that won the race).
   */
  async linkJob(uploadId: string, jobId: string): Promise<string> {
    const tmp = join(this.#jobsDir, `.${uploadId}.${randomBytes(6).toString('hex')}`);
    await writeFile(tmp, jobId);
    try {
      await link(tmp, join(this.#jobsDir, uploadId));
      return jobId;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return (await this.jobOf(uploadId)) ?? jobId;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async unlinkJob(uploadId: string): Promise<void> {
    if (UploadFiles.isId(uploadId)) await rm(join(this.#jobsDir, uploadId), { force: true });
  }
}
