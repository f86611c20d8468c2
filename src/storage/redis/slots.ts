/**
 * Redis Cluster slots, computed here so the behaviour log can keep one stream per slot: a
 * script may only touch keys of one slot, so the stream an entity's script appends to must
 * hash to the entity's slot. `SlotTags` names, for each of the 16384 slots, a short hash tag
 * that lands in it; `ix:{<tag>}` is then that slot's stream, whatever entity writes there.
 */

const SLOTS = 16384;

const CRC16_TABLE = (() => {
  // CRC16-CCITT (XMODEM), polynomial 0x1021: the one Redis Cluster uses
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** The slot of a hash tag (the text between a key's first `{` and the next `}`). */
export function slotOfTag(tag: string): number {
  return crc16(Buffer.from(tag, 'utf8')) % SLOTS;
}

/** For each slot, the shortest decimal tag that hashes to it (built on first use, ~20 ms). */
export class SlotTags {
  #tags: string[] | undefined;

  /** The tag whose keys share `hashTag`'s slot. */
  sameSlotAs(hashTag: string): string {
    return this.table()[slotOfTag(hashTag)]!;
  }

  private table(): string[] {
    if (this.#tags) return this.#tags;
    const tags = new Array<string>(SLOTS);
    let missing = SLOTS;
    for (let i = 0; missing > 0; i++) {
      const tag = String(i);
      const slot = slotOfTag(tag);
      if (tags[slot] === undefined) {
        tags[slot] = tag;
        missing--;
      }
    }
    this.#tags = tags;
    return tags;
  }
}

/** The slot of a key, by Redis Cluster's rule: its hash tag when it has a non-empty one, else the whole key. */
export function slotOfKey(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return slotOfTag(key.slice(open + 1, close));
  }
  return slotOfTag(key);
}
