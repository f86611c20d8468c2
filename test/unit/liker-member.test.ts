import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeTsid, encodeTsid, isTsid, tsidDecimal, TsidGenerator } from '../../src/domain/ids.ts';
import { likerMember } from '../../src/storage/redis/likers.ts';

describe('likerMember (a liker as the Redis driver stores it)', () => {
  it("is a TSID's 64-bit value in decimal, as the bigint decoding gives it", () => {
    const ids = new TsidGenerator({ nodeId: 1023 });
    const samples = [...Array.from({ length: 2000 }, () => ids.next()), '0000000000000', '0000000000001', '7ZZZZZZZZZZZZ'];
    for (let bits = 0n; bits < 63n; bits += 3n) samples.push(encodeTsid((1n << bits) - 1n), encodeTsid(1n << bits));
    samples.push(encodeTsid(2n ** 63n - 1n), encodeTsid(10n ** 18n), encodeTsid(10n ** 14n - 1n), encodeTsid(10n ** 7n));
    for (const id of samples) {
      assert.ok(isTsid(id), id);
      assert.equal(tsidDecimal(id), decodeTsid(id).toString(10), id);
      assert.equal(likerMember(id), decodeTsid(id).toString(10), id);
    }
  });

  it('keeps anything that is not a TSID as text behind s:', () => {
    for (const id of ['', 'abc', '8000000000000', '000000000000I', '000000000000u', '0000000000000x', '000000000000\u00e9', 'user-1']) {
      assert.equal(isTsid(id), false, id);
      assert.equal(tsidDecimal(id), undefined, id);
      assert.equal(likerMember(id), `s:${id}`, id);
    }
  });
});
