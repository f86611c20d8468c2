/**
 * Is an MP4/MOV file complete? Judged from its own structure, not from bitrates: the index
 * (`moov`) and media (`mdat`, `moof`) boxes must fit in the file, and every chunk the sample
 * tables point at (`stco`/`co64` offsets, sized by `stsc` and `stsz`/`stz2`) must end within it.
 *
 * A file cut short keeps a header that claims the full duration (with faststart the whole
 * index is at the front), so ffprobe alone takes a 30 % copy for a shorter, valid video.
 */
import { FileBytes, MalformedIndex, MAX_INDEX_BYTES } from './file-bytes.ts';

/** Top-level boxes that hold the index or the media: one of them running past the end means the file was cut. */
const CUT_OFF_BOXES: ReadonlySet<string> = new Set(['moov', 'mdat', 'moof', 'sidx', 'mfra']);

interface Box {
  type: string;
  /** First byte of the payload and the byte after the box, in the buffer or file it was read from. */
  start: number;
  end: number;
}

/** Why an MP4/MOV file is cut short or unreadable, or null when its index fits in the file. */
export async function mp4Truncation(file: string): Promise<string | null> {
  const src = await FileBytes.open(file);
  try {
    return await check(src);
  } catch (err) {
    if (err instanceof MalformedIndex) return `its index is malformed: ${err.message}`;
    throw err;
  } finally {
    await src.close();
  }
}

async function check(src: FileBytes): Promise<string | null> {
  const size = src.size;
  let moov: Box | undefined;
  let pos = 0;
  // A few trailing bytes (fewer than a box header) are padding, not a box.
  while (size - pos >= 8) {
    const head = await src.read(pos, 16);
    if (head.readUInt32BE(0) === 1 && head.length < 16) return `it is truncated: the box header at byte ${pos} is cut off`;
    const box = boxAt(head, 0, head.length, pos, true);
    const boxEnd = Number.isNaN(box.end) ? size : pos + box.end;
    if (boxEnd > size) {
      if (CUT_OFF_BOXES.has(box.type)) {
        return `it is truncated: its ${printable(box.type)} box at byte ${pos} ends at byte ${boxEnd}, but the file has ${size} bytes`;
      }
      break; // bytes that are no box (a vendor trailer): ignored, as players do; the sample tables still have to fit
    }
    if (box.type === 'moov' && !moov) moov = { type: 'moov', start: pos + box.start, end: boxEnd };
    pos = boxEnd;
  }
  if (!moov) return 'it is truncated: it has no index (moov box)';
  if (moov.end - moov.start > MAX_INDEX_BYTES) throw new MalformedIndex(`the moov box is larger than ${MAX_INDEX_BYTES} bytes`);
  const index = await src.read(moov.start, moov.end - moov.start);
  const end = dataEnd(index, moov.start);
  if (end > size) return `it is truncated: its sample tables point to byte ${end}, but the file has ${size} bytes`;
  return null;
}

/**
 * The box starting at `at` in `buf` (which must hold at least its header). Its `start`/`end`
 * are relative to `buf`; `fileAt` is only for messages. With `topLevel`, the size may exceed
 * `limit` (checked against the file by the caller); size 0 means "to the end of the file".
 */
function boxAt(buf: Buffer, at: number, limit: number, fileAt: number, topLevel = false): Box {
  if (limit - at < 8) throw new MalformedIndex(`a box header at byte ${fileAt} is cut off`);
  let size = buf.readUInt32BE(at);
  const type = buf.toString('latin1', at + 4, at + 8);
  let header = 8;
  if (size === 1) {
    if (limit - at < 16) throw new MalformedIndex(`the ${printable(type)} box header at byte ${fileAt} is cut off`);
    const big = buf.readBigUInt64BE(at + 8);
    size = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
    header = 16;
  } else if (size === 0) {
    if (!topLevel) throw new MalformedIndex(`the ${printable(type)} box at byte ${fileAt} has no size`);
    size = Number.POSITIVE_INFINITY; // resolved by the caller: to the end of the file
  }
  if (size < header) throw new MalformedIndex(`the ${printable(type)} box at byte ${fileAt} is smaller than its header`);
  if (!topLevel && at + size > limit) throw new MalformedIndex(`the ${printable(type)} box at byte ${fileAt} overruns its parent`);
  return { type, start: at + header, end: Number.isFinite(size) ? at + size : Number.NaN };
}

/** The boxes inside `parent`; `base` is the file offset of `buf`, for messages. */
function children(buf: Buffer, parent: { start: number; end: number }, base: number): Box[] {
  const out: Box[] = [];
  let at = parent.start;
  while (parent.end - at >= 8) {
    const box = boxAt(buf, at, parent.end, base + at);
    out.push(box);
    at = box.end;
  }
  return out;
}

const child = (buf: Buffer, parent: Box, type: string, base: number): Box | undefined => children(buf, parent, base).find((b) => b.type === type);

/** The byte after the last sample of any track (0 when no track keeps samples in the moov's tables); `base` is the moov payload's file offset. */
function dataEnd(moov: Buffer, base: number): number {
  let end = 0;
  for (const trak of children(moov, { start: 0, end: moov.length }, base).filter((b) => b.type === 'trak')) {
    const mdia = child(moov, trak, 'mdia', base);
    const minf = mdia && child(moov, mdia, 'minf', base);
    const stbl = minf && child(moov, minf, 'stbl', base);
    if (stbl) end = Math.max(end, trackEnd(moov, stbl, base));
  }
  return end;
}

function trackEnd(buf: Buffer, stbl: Box, base: number): number {
  const boxes = children(buf, stbl, base);
  const find = (...types: string[]): Box | undefined => boxes.find((b) => types.includes(b.type));
  const offsets = chunkOffsets(buf, find('stco', 'co64'));
  if (offsets.length === 0) return 0; // fragmented MP4: samples live in moof/mdat pairs, checked as top-level boxes
  const sizes = sampleSizes(buf, find('stsz', 'stz2'));
  const stsc = find('stsc');
  if (!stsc) throw new MalformedIndex('a track has chunk offsets but no sample-to-chunk table');
  const runs = table(buf, stsc, 12).map((at) => ({ firstChunk: buf.readUInt32BE(at), perChunk: buf.readUInt32BE(at + 4) }));

  let end = 0;
  let sample = 0;
  let run = 0;
  for (let chunk = 1; chunk <= offsets.length && sample < sizes.count; chunk++) {
    while (run + 1 < runs.length && runs[run + 1]!.firstChunk <= chunk) run++;
    const perChunk = runs[run] && runs[run]!.firstChunk <= chunk ? runs[run]!.perChunk : 0;
    const n = Math.min(perChunk, sizes.count - sample);
    let bytes = 0;
    if (sizes.constant > 0) bytes = n * sizes.constant;
    else for (let i = 0; i < n; i++) bytes += sizes.at(sample + i);
    sample += n;
    if (n > 0) end = Math.max(end, offsets[chunk - 1]! + bytes);
  }
  return end;
}

/** Entry positions of a full box's table: version/flags, a 32-bit count, then `entrySize`-byte entries. */
function table(buf: Buffer, box: Box, entrySize: number, skip = 0): number[] {
  const countAt = box.start + 4 + skip;
  if (box.end - countAt < 4) throw new MalformedIndex(`the ${box.type} box is too short`);
  const count = buf.readUInt32BE(countAt);
  const first = countAt + 4;
  if (count * entrySize > box.end - first) throw new MalformedIndex(`the ${box.type} box lists more entries than it holds`);
  return Array.from({ length: count }, (_, i) => first + i * entrySize);
}

function chunkOffsets(buf: Buffer, box: Box | undefined): number[] {
  if (!box) return [];
  if (box.type === 'stco') return table(buf, box, 4).map((at) => buf.readUInt32BE(at));
  return table(buf, box, 8).map((at) => {
    const v = buf.readBigUInt64BE(at);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  });
}

interface SampleSizes {
  count: number;
  /** Every sample's size when they are all alike, else 0 and `at()` gives each. */
  constant: number;
  at: (i: number) => number;
}

function sampleSizes(buf: Buffer, box: Box | undefined): SampleSizes {
  if (!box) throw new MalformedIndex('a track has chunk offsets but no sample sizes');
  if (box.end - box.start < 12) throw new MalformedIndex(`the ${box.type} box is too short`);
  if (box.type === 'stsz') {
    const constant = buf.readUInt32BE(box.start + 4);
    const count = buf.readUInt32BE(box.start + 8);
    if (constant > 0) return { count, constant, at: () => constant };
    const first = box.start + 12;
    if (count * 4 > box.end - first) throw new MalformedIndex('the stsz box lists more samples than it holds');
    return { count, constant: 0, at: (i) => buf.readUInt32BE(first + i * 4) };
  }
  // stz2: 24 reserved bits, an 8-bit field size (4, 8 or 16), a count, packed sizes.
  const field = buf.readUInt8(box.start + 7);
  const count = buf.readUInt32BE(box.start + 8);
  const first = box.start + 12;
  if (field !== 4 && field !== 8 && field !== 16) throw new MalformedIndex(`the stz2 box has ${field}-bit sizes`);
  if (Math.ceil((count * field) / 8) > box.end - first) throw new MalformedIndex('the stz2 box lists more samples than it holds');
  const at = (i: number): number => {
    if (field === 16) return buf.readUInt16BE(first + i * 2);
    if (field === 8) return buf.readUInt8(first + i);
    const byte = buf.readUInt8(first + (i >> 1));
    return i % 2 === 0 ? byte >> 4 : byte & 0x0f;
  };
  return { count, constant: 0, at };
}

function printable(type: string): string {
  return /^[\x20-\x7e]{4}$/.test(type) ? type : JSON.stringify(type);
}
