/**
 * Uploaded source files in an S3 bucket (MEDIA_STORE=s3), so that any process can take any
 * PATCH of any upload and any process can run its job, sharing only the bucket and storage.
 *
 * Layout, per upload under `uploads/<uploadId>/`:
 * - `info.json`: tus's record (id, size, metadata with the owner, creation date);
 * - `part-<offset, 15 digits>`: the bytes of one PATCH, starting at that offset.
 * The offset is where the parts stop being contiguous from 0, so a part a crash left half
 * counted, or a PATCH that failed after its part went in, is simply overwritten by the retry
 * that starts at the same offset. PATCHes of one upload never run at once: tus takes the
 * upload's lock first, and with STORAGE=redis that lock is shared by every process
 * (media/upload-locker.ts).
 *
 * Why not @tus/s3-store: it keeps the upload as one S3 multipart upload and reads its state
 * back with ListParts on every HEAD and PATCH; s3rver, the S3 server the tests run, has no
 * ListParts, and multipart parts must be at least 5 MiB, which tus clients do not promise.
 * Parts as plain objects need only PUT, GET, HEAD, ListObjectsV2 and DeleteObjects.
 *
 * Which job processes an upload is recorded in storage (Store.uploads.linkJob: SET NX on Redis).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DataStore, ERRORS, Upload } from '@tus/server';
import { isUploadId, ownedUpload, parseChecksum, type UploadInfo } from '../../domain/uploads.ts';
import { TremoloError } from '../../protocol/errors.ts';
import type { UploadStore } from '../uploads.ts';
import type { Bucket } from './bucket.ts';
import type { UploadFileStore } from './upload-files.ts';

const PREFIX = 'uploads/';
const PART = /^part-(\d{15})$/;

interface Part {
  key: string;
  start: number;
  size: number;
}

export class BucketUploadFiles implements UploadFileStore {
  constructor(
    private readonly bucket: Bucket,
    /** Job links live in storage, shared by every process. */
    private readonly links: Pick<UploadStore, 'linkJob' | 'jobOf' | 'unlinkJob'>,
    /** Where a PATCH body is spooled before it is put, and sources are copied for ffmpeg. */
    private readonly workDir: string = tmpdir(),
  ) {}

  async init(): Promise<void> {}

  tusStore(opts: { expiryMs: number }): DataStore {
    return new BucketTusStore(this, opts.expiryMs);
  }

  /** @internal the record's key */
  infoKey(uploadId: string): string {
    return `${PREFIX}${uploadId}/info.json`;
  }

  /** @internal the key of the part starting at `offset` */
  partKey(uploadId: string, offset: number): string {
    return `${PREFIX}${uploadId}/part-${String(offset).padStart(15, '0')}`;
  }

  /** The contiguous parts from offset 0, in order (what counts as received). */
  async parts(uploadId: string): Promise<Part[]> {
    const all: Part[] = [];
    for (const o of await this.bucket.list(`${PREFIX}${uploadId}/`)) {
      const m = PART.exec((o.Key ?? '').slice(PREFIX.length + uploadId.length + 1));
      if (m && o.Key) all.push({ key: o.Key, start: Number(m[1]), size: o.Size ?? 0 });
    }
    all.sort((a, b) => a.start - b.start);
    const out: Part[] = [];
    let at = 0;
    for (const p of all) {
      if (p.start !== at || p.size === 0) continue; // a leftover beyond a gap: overwritten by the retry
      out.push(p);
      at += p.size;
    }
    return out;
  }

  /** @internal the raw record (tus's shape) */
  async record(uploadId: string): Promise<{ id: string; size?: number; metadata?: Record<string, string | null>; creation_date?: string } | null> {
    if (!isUploadId(uploadId)) return null;
    const text = await this.bucket.getText(this.infoKey(uploadId));
    if (text === null) return null;
    try {
      return JSON.parse(text) as { id: string };
    } catch {
      return null;
    }
  }

  /** @internal */
  async putRecord(upload: Upload): Promise<void> {
    const record = { id: upload.id, size: upload.size, metadata: upload.metadata ?? {}, creation_date: upload.creation_date };
    await this.bucket.putBytes(this.infoKey(upload.id), JSON.stringify(record), 'application/json');
  }

  /** @internal puts one part from a local file */
  putPart(uploadId: string, offset: number, path: string): Promise<void> {
    return this.bucket.putFile(this.partKey(uploadId, offset), path);
  }

  /** @internal a scratch directory, removed by the caller */
  scratch(): Promise<string> {
    return mkdtemp(join(this.workDir, 'tremolo-upload-'));
  }

  async info(uploadId: string): Promise<UploadInfo | null> {
    const raw = await this.record(uploadId);
    if (!raw) return null;
    const offset = (await this.parts(uploadId)).reduce((n, p) => n + p.size, 0);
    return {
      id: uploadId,
      ...(typeof raw.size === 'number' ? { size: raw.size } : {}),
      offset,
      metadata: raw.metadata && typeof raw.metadata === 'object' ? raw.metadata : {},
      ...(typeof raw.creation_date === 'string' ? { creationDate: raw.creation_date } : {}),
    };
  }

  async owned(uploadId: string, userId: string): Promise<UploadInfo> {
    return ownedUpload(await this.info(uploadId), userId);
  }

  async list(): Promise<UploadInfo[]> {
    const out: UploadInfo[] = [];
    for (const id of await this.bucket.folders(PREFIX)) {
      const info = await this.info(id);
      if (info) out.push(info);
    }
    return out;
  }

  async remove(uploadId: string): Promise<void> {
    if (!isUploadId(uploadId)) return;
    // the parts first, the record last: a removal cut short leaves a record that sweeps find
    const keys = (await this.bucket.list(`${PREFIX}${uploadId}/`)).map((o) => o.Key).filter((k): k is string => !!k);
    const info = this.infoKey(uploadId);
    const parts = keys.filter((k) => k !== info);
    if (parts.length) await this.bucket.deleteKeys(parts);
    if (keys.includes(info)) await this.bucket.deleteKeys([info]);
  }

  async truncate(uploadId: string, length: number): Promise<void> {
    if (!Number.isSafeInteger(length) || length < 0) return;
    const doomed: string[] = [];
    for (const p of await this.parts(uploadId)) {
      if (p.start >= length) doomed.push(p.key);
      else if (p.start + p.size > length) {
        // a part that crosses the cut keeps its head
        const dir = await this.scratch();
        try {
          const head = join(dir, 'head');
          const body = await this.bucket.get(p.key, { start: 0, end: length - p.start - 1 });
          if (body) await pipeline(body, createWriteStream(head));
          await this.putPart(uploadId, p.start, head);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
    if (doomed.length) await this.bucket.deleteKeys(doomed);
  }

  async checksumMatches(uploadId: string, declared: string): Promise<boolean> {
    const { algorithm, digest } = parseChecksum(declared);
    const hash = createHash(algorithm);
    for await (const chunk of await this.read(uploadId)) hash.update(chunk as Buffer);
    return hash.digest('base64') === digest;
  }

  async read(uploadId: string): Promise<Readable> {
    if (!isUploadId(uploadId)) throw new TremoloError('E_UPLOAD_NOT_FOUND');
    const parts = await this.parts(uploadId);
    const out = new PassThrough();
    void (async () => {
      for (const p of parts) {
        const body = await this.bucket.get(p.key);
        if (!body) throw new TremoloError('E_UPLOAD_NOT_FOUND', 'A part of the upload is gone');
        await pipeline(body, out, { end: false });
      }
      out.end();
    })().catch((err: unknown) => out.destroy(err as Error));
    return out;
  }

  async localCopy(uploadId: string): Promise<{ path: string; release(): Promise<void> }> {
    const dir = await this.scratch();
    const path = join(dir, 'source');
    const release = (): Promise<void> => rm(dir, { recursive: true, force: true });
    try {
      await pipeline(await this.read(uploadId), createWriteStream(path));
    } catch (err) {
      await release();
      throw err;
    }
    return { path, release };
  }

  jobOf(uploadId: string): Promise<string | null> {
    return isUploadId(uploadId) ? this.links.jobOf(uploadId) : Promise.resolve(null);
  }

  linkJob(uploadId: string, jobId: string): Promise<string> {
    return this.links.linkJob(uploadId, jobId);
  }

  async unlinkJob(uploadId: string): Promise<void> {
    if (isUploadId(uploadId)) await this.links.unlinkJob(uploadId);
  }
}

/**
 * tus's data store over BucketUploadFiles. A PATCH body is spooled to a local file (a plain
 * PUT needs its length up front) and put as one part; a body cut short still keeps what
 * arrived, as the file store does, so the client resumes from there.
 */
export class BucketTusStore extends DataStore {
  constructor(
    private readonly files: BucketUploadFiles,
    private readonly expiryMs: number,
  ) {
    super();
    this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration'];
  }

  override async create(upload: Upload): Promise<Upload> {
    await this.files.putRecord(upload);
    return upload;
  }

  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    const dir = await this.files.scratch();
    const path = join(dir, randomBytes(6).toString('hex'));
    let bytes = 0;
    let failure: unknown;
    try {
      const file = createWriteStream(path);
      try {
        await pipeline(
          stream,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              bytes += chunk.length;
              yield chunk;
            }
          },
          file,
        );
      } catch (err) {
        failure = err;
      }
      if (bytes > 0) await this.files.putPart(id, offset, path);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    if (failure !== undefined) throw failure;
    return offset + bytes;
  }

  override async getUpload(id: string): Promise<Upload> {
    const raw = await this.files.record(id);
    if (!raw) throw ERRORS.FILE_NOT_FOUND;
    const offset = (await this.files.parts(id)).reduce((n, p) => n + p.size, 0);
    return new Upload({
      id,
      ...(typeof raw.size === 'number' ? { size: raw.size } : {}),
      offset,
      ...(raw.metadata ? { metadata: raw.metadata } : {}),
      ...(raw.creation_date ? { creation_date: raw.creation_date } : {}),
    });
  }

  override async remove(id: string): Promise<void> {
    if (!(await this.files.record(id))) throw ERRORS.FILE_NOT_FOUND;
    await this.files.remove(id);
  }

  /** Expired uploads are removed by the media sweep (workers/media-reclaimer.ts), which also gives their quota back. */
  override async deleteExpired(): Promise<number> {
    return 0;
  }

  override getExpiration(): number {
    return this.expiryMs;
  }
}
