/**
 * Random reads from a file through a small window, for walking a container's structure
 * (box and element headers) without reading the media data in between.
 */
import { open, type FileHandle } from 'node:fs/promises';

/** Thrown by the index readers for a structure they cannot follow; its message is the reason shown to the uploader. */
export class MalformedIndex extends Error {}

/** Most bytes of index (an MP4 `moov`, Matroska cues) read at once: far above what 10 minutes of video need. */
export const MAX_INDEX_BYTES = 32 * 1024 * 1024;

const WINDOW = 64 * 1024;

export class FileBytes {
  readonly size: number;
  readonly #fh: FileHandle;
  #windowAt = 0;
  #window: Buffer = Buffer.alloc(0);

  private constructor(fh: FileHandle, size: number) {
    this.#fh = fh;
    this.size = size;
  }

  static async open(path: string): Promise<FileBytes> {
    const fh = await open(path, 'r');
    try {
      return new FileBytes(fh, (await fh.stat()).size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Up to `length` bytes from `position` (fewer at the end of the file). */
  async read(position: number, length: number): Promise<Buffer> {
    const want = Math.max(0, Math.min(length, this.size - position));
    if (want === 0) return Buffer.alloc(0);
    const w = this.#window;
    if (position >= this.#windowAt && position + want <= this.#windowAt + w.length) {
      return w.subarray(position - this.#windowAt, position - this.#windowAt + want);
    }
    if (want > WINDOW) {
      const buf = Buffer.alloc(want);
      const { bytesRead } = await this.#fh.read(buf, 0, want, position);
      return buf.subarray(0, bytesRead);
    }
    const buf = Buffer.alloc(Math.min(WINDOW, this.size - position));
    const { bytesRead } = await this.#fh.read(buf, 0, buf.length, position);
    this.#window = buf.subarray(0, bytesRead);
    this.#windowAt = position;
    return this.#window.subarray(0, Math.min(want, bytesRead));
  }

  close(): Promise<void> {
    return this.#fh.close();
  }
}
