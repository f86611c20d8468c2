/**
 * Is a Matroska/WebM file complete? Judged from its own structure: the segment's declared
 * size, every element's size (clusters of unknown size, as live recorders write them, are
 * walked block by block), and the positions the seek head and the cues point at must all
 * lie within the file.
 */
import { FileBytes, MalformedIndex, MAX_INDEX_BYTES } from './file-bytes.ts';

const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  SeekHead: 0x114d9b74,
  Seek: 0x4dbb,
  SeekPosition: 0x53ac,
  Info: 0x1549a966,
  Tracks: 0x1654ae6b,
  Cluster: 0x1f43b675,
  Cues: 0x1c53bb6b,
  CuePoint: 0xbb,
  CueTrackPositions: 0xb7,
  CueClusterPosition: 0xf1,
  Chapters: 0x1043a770,
  Tags: 0x1254c367,
  Attachments: 0x1941a469,
} as const;

/** Elements that follow a cluster inside the segment: one of them ends a cluster of unknown size. */
const SEGMENT_CHILDREN: ReadonlySet<number> = new Set([ID.SeekHead, ID.Info, ID.Tracks, ID.Cluster, ID.Cues, ID.Chapters, ID.Tags, ID.Attachments]);

interface Header {
  id: number;
  /** First byte of the payload. */
  start: number;
  /** Payload size; null when unknown (all ones). */
  size: number | null;
}

/** Why a Matroska/WebM file is cut short or unreadable, or null when it is whole. */
export async function matroskaTruncation(file: string): Promise<string | null> {
  const src = await FileBytes.open(file);
  try {
    return await check(src);
  } catch (err) {
    if (err instanceof Truncated) return `it is truncated: ${err.message}`;
    if (err instanceof MalformedIndex) return `its structure is malformed: ${err.message}`;
    throw err;
  } finally {
    await src.close();
  }
}

class Truncated extends Error {}

async function check(src: FileBytes): Promise<string | null> {
  const size = src.size;
  const within = (h: Header, what: string): number => {
    const end = h.start + (h.size ?? 0);
    if (end > size) throw new Truncated(`its ${what} ends at byte ${end}, but the file has ${size} bytes`);
    return end;
  };

  const ebml = await headerAt(src, 0);
  if (ebml.id !== ID.EBML || ebml.size === null) throw new MalformedIndex('it does not start with an EBML header');
  let pos = within(ebml, 'EBML header');
  let segment: Header | undefined;
  while (pos < size) {
    const h = await headerAt(src, pos);
    if (h.id === ID.Segment) {
      segment = h;
      break;
    }
    if (h.size === null) throw new MalformedIndex(`an element of unknown size at byte ${pos}`);
    pos = within(h, 'top-level element');
  }
  if (!segment) throw new Truncated('it has no segment');
  const segEnd = segment.size === null ? size : within(segment, 'segment');

  /** Positions (relative to the segment's payload) named by the seek head and the cues. */
  const pointers: number[] = [];
  pos = segment.start;
  while (pos < segEnd) {
    const h = await headerAt(src, pos);
    if (h.size === null) {
      if (h.id !== ID.Cluster) throw new MalformedIndex(`an element of unknown size at byte ${pos} is not a cluster`);
      pos = await clusterEnd(src, h.start, segEnd);
      continue;
    }
    const end = within(h, h.id === ID.Cluster ? 'cluster' : 'element');
    if (end > segEnd) throw new MalformedIndex(`an element at byte ${pos} overruns its segment`);
    if (h.id === ID.SeekHead || h.id === ID.Cues) {
      if (h.size > MAX_INDEX_BYTES) throw new MalformedIndex(`its ${h.id === ID.Cues ? 'cues are' : 'seek head is'} larger than ${MAX_INDEX_BYTES} bytes`);
      collectPositions(await src.read(h.start, h.size), pointers);
    }
    pos = end;
  }
  for (const rel of pointers) {
    const at = segment.start + rel;
    if (at >= size) return `it is truncated: its index points to byte ${at}, but the file has ${size} bytes`;
  }
  return null;
}

/** Walks a cluster of unknown size block by block; returns where the next segment child starts (or the end). */
async function clusterEnd(src: FileBytes, start: number, segEnd: number): Promise<number> {
  let pos = start;
  while (pos < segEnd) {
    const h = await headerAt(src, pos);
    if (SEGMENT_CHILDREN.has(h.id)) return pos;
    if (h.size === null) throw new MalformedIndex(`an element of unknown size at byte ${pos} inside a cluster`);
    const end = h.start + h.size;
    if (end > src.size) throw new Truncated(`a block at byte ${pos} ends at byte ${end}, but the file has ${src.size} bytes`);
    pos = end;
  }
  return pos;
}

/** Reads the element header (ID and size) at `pos` of the file. */
async function headerAt(src: FileBytes, pos: number): Promise<Header> {
  const buf = await src.read(pos, 12);
  const h = parseHeader(buf, 0);
  if (!h) throw new Truncated(`the element header at byte ${pos} is cut off`);
  return { id: h.id, size: h.size, start: pos + h.start };
}

/** An EBML element header in `buf` at `at`: `start` is relative to `buf`. Null when `buf` ends inside it. */
function parseHeader(buf: Uint8Array, at: number): Header | null {
  const idLen = vintLength(buf[at]);
  if (idLen === 0 || idLen > 4) {
    if (at >= buf.length) return null;
    throw new MalformedIndex('an element ID is invalid');
  }
  if (at + idLen > buf.length) return null;
  let id = 0;
  for (let i = 0; i < idLen; i++) id = id * 256 + buf[at + i]!;
  const sizeAt = at + idLen;
  const sizeLen = vintLength(buf[sizeAt]);
  if (sizeLen === 0) {
    if (sizeAt >= buf.length) return null;
    throw new MalformedIndex('an element size is invalid');
  }
  if (sizeAt + sizeLen > buf.length) return null;
  let value = buf[sizeAt]! & (0xff >> sizeLen);
  let allOnes = value === 0xff >> sizeLen;
  for (let i = 1; i < sizeLen; i++) {
    const b = buf[sizeAt + i]!;
    value = value * 256 + b;
    allOnes &&= b === 0xff;
  }
  return { id, start: sizeAt + sizeLen, size: allOnes ? null : value };
}

/** Length of a variable-size integer from its first byte (the position of the first set bit); 0 when invalid or absent. */
function vintLength(first: number | undefined): number {
  if (first === undefined || first === 0) return 0;
  return Math.clz32(first) - 23;
}

/** Adds every SeekPosition and CueClusterPosition found in a SeekHead's or Cues' payload. */
function collectPositions(buf: Buffer, out: number[]): void {
  let at = 0;
  while (at < buf.length) {
    const h = parseHeader(buf, at);
    if (!h || h.size === null || h.start + h.size > buf.length) throw new MalformedIndex('the seek head or cues overrun themselves');
    const body = buf.subarray(h.start, h.start + h.size);
    if (h.id === ID.Seek || h.id === ID.CuePoint || h.id === ID.CueTrackPositions) collectPositions(body, out);
    else if (h.id === ID.SeekPosition || h.id === ID.CueClusterPosition) {
      if (body.length > 7) throw new MalformedIndex('a position in the seek head or cues is too large');
      out.push(body.reduce((n, b) => n * 256 + b, 0));
    }
    at = h.start + h.size;
  }
}
