import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dedupeLines, keywordTags, normaliseText } from '../../src/workers/tasks/tag/keywords.ts';
import type { OcrLine, Quad } from '../../src/workers/tasks/tag/types.ts';

const BOX: Quad = [[0, 0], [10, 0], [10, 5], [0, 5]];
const line = (text: string, confidence = 0.95): OcrLine => ({ text, confidence, box: BOX });

test('the same caption on several frames is kept once, with its best reading', () => {
  const out = dedupeLines([line('HELLO 抖音 2026', 0.9), line('hello抖音2026', 0.97), line('Other', 0.8), line('  ')]);
  assert.deepEqual(
    out.map((l) => [l.text, l.confidence]),
    [['hello抖音2026', 0.97], ['Other', 0.8]],
  );
});

test('normalisation folds full-width characters, case and spaces', () => {
  assert.equal(normaliseText('ＨＥＬＬＯ　＃Dance 抖音'), 'hello#dance抖音');
});

test('hashtags come first, then Latin words and Chinese runs', () => {
  const tags = keywordTags([line('#Dance challenge ＃抖音热门'), line('HELLO 抖音 2026'), line('抖音 直播 of the week')]);
  assert.deepEqual(tags, ['#dance', '#抖音热门', '抖音', 'challenge', 'hello', '直播', 'week']);
});

test('stop words, single letters, bare numbers and single CJK characters are not tags', () => {
  assert.deepEqual(keywordTags([line('I am in the 2026 a 好 Go')]), ['go']);
});

test('keywords are ranked by how many lines carry them', () => {
  const tags = keywordTags([line('alpha beta'), line('beta gamma'), line('gamma beta 直播')]);
  assert.deepEqual(tags.slice(0, 2), ['beta', 'gamma']);
});

test('low-confidence lines give no tags and the number of tags is capped', () => {
  assert.deepEqual(keywordTags([line('noise words', 0.3)]), []);
  const many = Array.from({ length: 50 }, (_, i) => line(`word${i} extra${i}`));
  assert.equal(keywordTags(many, { maxTags: 7 }).length, 7);
  assert.equal(keywordTags(many).length, 20);
});

test('a hashtag stops where the script changes (OCR drops spaces between scripts)', () => {
  assert.deepEqual(keywordTags([line('#Dance抖音直播')]), ['#dance', '抖音直播']);
});
