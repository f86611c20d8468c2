/**
 * Where transcoded media lives: local files (FileMediaStore, the embedded default) or an S3
 * bucket (BucketMediaStore, MEDIA_STORE=s3). Callers name videos and relative paths
 * (`<videoId>/hls/master.m3u8`), never directories or object keys they build themselves.
 *
 * A job writes a video's media into a local directory (`stage`) and `commit`s it: on local
 * files that directory is the stored media already; on a bucket it is a temporary directory
 * whose files are put under `media/<videoId>/` and then removed.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { TremoloError } from '../../protocol/errors.ts';
import type { Bucket } from './bucket.ts';

export interface MediaFileInfo {
  size: number;
  mtimeMs: number;
}

/** A bytes range, both ends inclusive (as in HTTP's Range). */
export interface ByteRange {
  start: number;
  end: number;
}

/** Where a job writes one video's media, and how that becomes the stored media. */
export interface MediaStaging {
  /** The local directory to write into (the transcode task's `outDir`). */
  readonly dir: string;
  /** Makes what `dir` holds the video's stored media. */
  commit(): Promise<void>;
  /** Removes local work that is no longer needed (after `commit`, or on failure). */
  discard(): Promise<void>;
}

export interface MediaStore {
  /** Where a job writes a video's media. */
  stage(videoId: string): Promise<MediaStaging>;
  /** A stored file's bytes (or `range` of them); E_NOT_FOUND when there is none, E_VALIDATION for a path outside the store. */
  read(relPath: string, range?: ByteRange): Promise<Readable>;
  /**
   * A URL the storage itself serves the file under for `ttlS` seconds (a presigned object
   * URL), or null when it has none (local files: this process serves them).
   */
  presign(relPath: string, ttlS: number): Promise<string | null>;
  /** Removes all media of a video; removing a missing video is not an error. */
  remove(videoId: string): Promise<void>;
  /** Size and modification time of a stored file, or null when there is none. */
  stat(relPath: string): Promise<MediaFileInfo | null>;
  /** The ids media is stored under (finished output only, not work in progress). */
  list(): Promise<string[]>;
}

/** Media stored as files under a local directory that this process can serve directly. */
export interface LocalMediaStore extends MediaStore {
  readonly root: string;
  /** The directory a video's media is written into. */
  dirFor(videoId: string): string;
  /** Absolute path of a stored file; refuses anything that would leave the store (E_VALIDATION). */
  resolve(relPath: string): string;
}

const VIDEO_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Plain names only: no encoded characters, no dot-only segments, no empty segments. */
const SAFE_SEGMENT = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;

const refused = (what: string): TremoloError => new TremoloError('E_VALIDATION', `The media path is not allowed: ${what}`);

/** A relative media path split into its segments: `<videoId>/<plain names...>`; E_VALIDATION otherwise. */
function checkedSegments(relPath: string): string[] {
  const segments = relPath.split('/');
  if (segments.length < 2 || !segments.every((s) => SAFE_SEGMENT.test(s)) || !VIDEO_ID.test(segments[0]!)) throw refused(JSON.stringify(relPath));
  return segments;
}

const notFound = (): TremoloError => new TremoloError('E_NOT_FOUND', 'No such media file');

export class FileMediaStore implements LocalMediaStore {
  readonly root: string;

  constructor(opts: { root: string }) {
    this.root = resolve(opts.root);
  }

  dirFor(videoId: string): string {
    if (!VIDEO_ID.test(videoId)) throw refused('bad video id');
    return join(this.root, videoId);
  }

  async stage(videoId: string): Promise<MediaStaging> {
    // the transcode task stages beside this directory and renames into it: nothing to commit
    return { dir: this.dirFor(videoId), commit: async () => {}, discard: async () => {} };
  }

  async read(relPath: string, range?: ByteRange): Promise<Readable> {
    const path = this.resolve(relPath);
    if (!(await this.stat(relPath))) throw notFound();
    return createReadStream(path, range ? { start: range.start, end: range.end } : {});
  }

  async presign(): Promise<string | null> {
    return null;
  }

  resolve(relPath: string): string {
    const segments = checkedSegments(relPath);
    const abs = resolve(this.root, ...segments);
    const rel = relative(this.root, abs);
    // Belt and braces: the segment rule already excludes `..`, but containment is what matters.
    if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw refused(JSON.stringify(relPath));
    return abs;
  }

  async remove(videoId: string): Promise<void> {
    await rm(this.dirFor(videoId), { recursive: true, force: true });
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true }).catch(() => []);
    // a transcode's staging directory (`<id>.partial-<hex>`) is not a valid id
    return entries.filter((e) => e.isDirectory() && VIDEO_ID.test(e.name)).map((e) => e.name);
  }

  async stat(relPath: string): Promise<MediaFileInfo | null> {
    try {
      const s = await stat(this.resolve(relPath));
      return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : null;
    } catch (err) {
      if (err instanceof TremoloError) throw err;
      return null;
    }
  }
}

/**
 * Media in an S3 bucket under `media/<videoId>/...`. Jobs transcode into a temporary local
 * directory and put the finished files; players get presigned URLs (or this process proxies).
 */
export class BucketMediaStore implements MediaStore {
  static readonly PREFIX = 'media/';

  constructor(
    private readonly bucket: Bucket,
    /** Where jobs write before the files go to the bucket (the system's temp directory by default). */
    private readonly workDir: string = tmpdir(),
  ) {}

  #key(relPath: string): string {
    return `${BucketMediaStore.PREFIX}${checkedSegments(relPath).join('/')}`;
  }

  async stage(videoId: string): Promise<MediaStaging> {
    if (!VIDEO_ID.test(videoId)) throw refused('bad video id');
    const parent = await mkdtemp(join(this.workDir, 'tremolo-media-'));
    const dir = join(parent, videoId);
    return {
      dir,
      commit: async () => {
        // the files first, the master playlist and the MP4 (what players open first) last
        const files = await filesUnder(dir);
        const last = (f: string): number => (f === 'hls/master.m3u8' || f === 'video.mp4' ? 1 : 0);
        files.sort((a, b) => last(a) - last(b));
        for (const f of files) await this.bucket.putFile(this.#key(`${videoId}/${f}`), join(dir, f), contentTypeOf(f));
      },
      discard: () => rm(parent, { recursive: true, force: true }),
    };
  }

  async read(relPath: string, range?: ByteRange): Promise<Readable> {
    const body = await this.bucket.get(this.#key(relPath), range);
    if (!body) throw notFound();
    return body;
  }

  presign(relPath: string, ttlS: number): Promise<string> {
    return this.bucket.presign(this.#key(relPath), ttlS);
  }

  async remove(videoId: string): Promise<void> {
    if (!VIDEO_ID.test(videoId)) throw refused('bad video id');
    await this.bucket.deletePrefix(`${BucketMediaStore.PREFIX}${videoId}/`);
  }

  stat(relPath: string): Promise<MediaFileInfo | null> {
    return this.bucket.head(this.#key(relPath));
  }

  async list(): Promise<string[]> {
    return (await this.bucket.folders(BucketMediaStore.PREFIX)).filter((id) => VIDEO_ID.test(id));
  }
}

/** Every file under a directory, as `/`-separated paths relative to it. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  jpg: 'image/jpeg',
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
};

/** What a presigned URL's answer says the file is (the bucket returns what was stored with it). */
function contentTypeOf(path: string): string {
  return CONTENT_TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}
