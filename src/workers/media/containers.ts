/**
 * The containers an upload may be, told from its own first bytes, and the exact ffmpeg input
 * options that open one.
 *
 * ffmpeg left to guess a file's format may choose a demuxer that opens *other* files: an
 * upload that starts with an HLS playlist line naming `../media/<job>/video.mp4` is read as
 * HLS and pulls another user's video in (likewise concat, image2 sequences, playlists). So
 * the format is never guessed: the signature picks one of the demuxers below, every ffprobe
 * and ffmpeg run on the upload names it with `-f`, and only local files may be opened.
 *
 * MP4/MOV (phones, Safari's MediaRecorder) and Matroska/WebM (Chrome and Firefox's
 * MediaRecorder, desktop tools) are accepted. MPEG-TS is not: its demuxer resyncs past any
 * leading bytes (so a playlist-with-a-TS-tail parses as both) and it carries no index to
 * check a cut-off file against. Everything else is remuxed to MP4 by the client.
 */
import { open } from 'node:fs/promises';
import { TremoloError } from '../../protocol/errors.ts';
import { matroskaTruncation } from './matroska-index.ts';
import { mp4Truncation } from './mp4-index.ts';

/** ffmpeg demuxer names of the accepted containers. */
export const CONTAINERS = ['mov', 'matroska'] as const;
export type Container = (typeof CONTAINERS)[number];

/** What ffprobe reports as `format_name` for each demuxer. */
export const FORMAT_NAMES: Record<Container, string> = {
  mov: 'mov,mp4,m4a,3gp,3g2,mj2',
  matroska: 'matroska,webm',
};

export function isContainer(value: unknown): value is Container {
  return typeof value === 'string' && (CONTAINERS as readonly string[]).includes(value);
}

/** Top-level ISO BMFF / QuickTime box types a file may open with. */
const FIRST_MP4_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);
const EBML_MAGIC = 0x1a45dfa3;

/** The container of a file's first bytes, or null when it is none we accept. */
export function containerOf(head: Uint8Array): Container | null {
  if (head.length < 8) return null;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0) === EBML_MAGIC) return 'matroska';
  const size = view.getUint32(0);
  const type = String.fromCharCode(...head.subarray(4, 8));
  // A box header: a size that can hold itself (0 = to the end, 1 = 64-bit size follows) and a known type.
  if ((size === 0 || size === 1 || size >= 8) && FIRST_MP4_BOXES.has(type)) return 'mov';
  return null;
}

/** Reads a file's signature; E_MEDIA_INVALID when it is no accepted container. */
export async function sniffContainer(file: string): Promise<Container> {
  const head = Buffer.alloc(16);
  let bytesRead = 0;
  try {
    const fh = await open(file, 'r');
    try {
      ({ bytesRead } = await fh.read(head, 0, head.length, 0));
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new TremoloError('E_MEDIA_INVALID', 'The file is not a playable video: it could not be read', { cause: err });
  }
  const container = containerOf(head.subarray(0, bytesRead));
  if (!container) {
    throw new TremoloError('E_MEDIA_INVALID', 'The file is not a playable video: the format is not recognised (upload MP4, MOV, WebM or MKV)');
  }
  return container;
}

/**
 * Input options that open a file as `container` and nothing else: that demuxer only, local
 * files only, and (MP4) no external data references.
 */
export function demuxerOptions(container: Container): string[] {
  if (!isContainer(container)) throw new TremoloError('E_MEDIA_INVALID', 'The file is not a playable video: the format is not recognised');
  return ['-protocol_whitelist', 'file', '-f', container, ...(container === 'mov' ? ['-enable_drefs', '0'] : [])];
}

/**
 * Why the file is cut short, judged by its own index (MP4 sample tables, Matroska sizes, seek
 * entries and cues) against its size; null when every byte the index points at is there.
 */
export function truncationOf(file: string, container: Container): Promise<string | null> {
  return container === 'mov' ? mp4Truncation(file) : matroskaTruncation(file);
}
