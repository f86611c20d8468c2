/**
 * The slot arithmetic behind the behaviour log's per-slot streams: slotOfTag is Redis
 * Cluster's CRC16 (values from the Redis Cluster specification), and SlotTags names, for any
 * hash tag, a short tag in the same slot, so a script's stream key shares its entity's slot.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotTags, slotOfTag } from '../../src/storage/redis/slots.ts';
import { RedisKeys } from '../../src/storage/redis/keys.ts';

describe('Redis Cluster slots', () => {
  it('computes the slots Redis does', () => {
    assert.equal(slotOfTag('123456789') & 0x3fff, 0x31c3 & 0x3fff); // the CRC16 check value of the spec
    assert.equal(slotOfTag('foo'), 12182);
    assert.equal(slotOfTag('somekey'), 11058);
    assert.equal(slotOfTag(''), 0);
  });

  it('names a same-slot tag for any entity, at most 6 digits, one per slot', () => {
    const tags = new SlotTags();
    const seen = new Map<number, string>();
    for (const id of ['0APCR7RS00000', 'jobs', 'ZZZZZZZZZZZZZ', '用户', 'a', 'b', 'c']) {
      const tag = tags.sameSlotAs(id);
      assert.equal(slotOfTag(tag), slotOfTag(id), id);
      assert.match(tag, /^\d{1,6}$/);
      const other = seen.get(slotOfTag(id));
      if (other !== undefined) assert.equal(tag, other);
      seen.set(slotOfTag(id), tag);
    }
  });

  it('builds the stream key of an entity in the entity\'s slot', () => {
    const keys = new RedisKeys('p:');
    const video = '0APCR7RS0ABCD';
    const stream = keys.interactionStream(keys.interactionTag(video));
    const tagOf = (key: string) => key.slice(key.indexOf('{') + 1, key.indexOf('}'));
    assert.equal(slotOfTag(tagOf(stream)), slotOfTag(tagOf(keys.video(video).meta)));
    // the stream's counter of extra events is written by the same scripts: same slot
    assert.equal(tagOf(keys.interactionExtra(keys.interactionTag(video))), tagOf(stream));
  });
});
