/**
 * Where transcoded media lives. Narrow on purpose so an object-store driver can be added
 * later: callers name videos and relative paths, never directories they build themselves.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { TremoloError } from '../../protocol/errors.ts';

export interface MediaFileInfo {
  size: number;
  mtimeMs: number;
}

export interface MediaStore {
  /** The directory a video's media is written into (the transcode task's `outDir`). */
  dirFor(videoId: string): string;
  /** Absolute path of a stored file; refuses anything that would leave the store (E_VALIDATION). */
  resolve(relPath: string): string;
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
}

const VIDEO_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Plain names only: no encoded characters, no dot-only segments, no empty segments. */
const SAFE_SEGMENT = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;

const refused = (what: string): TremoloError => new TremoloError('E_VALIDATION', `The media path is not allowed: ${what}`);

export class FileMediaStore implements LocalMediaStore {
  readonly root: string;

  constructor(opts: { root: string }) {
    this.root = resolve(opts.root);
  }

  dirFor(videoId: string): string {
    if (!VIDEO_ID.test(videoId)) throw refused('bad video id');
    return join(this.root, videoId);
  }

  resolve(relPath: string): string {
    const segments = relPath.split('/');
    if (segments.length < 2 || !segments.every((s) => SAFE_SEGMENT.test(s))) throw refused(JSON.stringify(relPath));
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
