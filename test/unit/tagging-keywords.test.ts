import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TagTokenizer } from '../../src/domain/tags.ts';
import { dedupeLines, keywordTags, normaliseText } from '../../src/workers/tasks/tag/keywords.ts';
import type { OcrLine, Quad } from '../../src/workers/tasks/tag/types.ts';

const BOX: Quad = [[0, 0], [10, 0], [10, 5], [0, 5]];
const line = (text: string, confidence = 0.95): OcrLine => ({ text, confidence, box: BOX });
/** The real tokenizer (jieba with its bundled dictionary), shared by the tests of this file. */
const tokenizer = new TagTokenizer();

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

test('hashtags come first, without their #, then words: Latin, and Chinese segmented', () => {
  const tags = keywordTags([line('#Dance challenge ＃抖音热门'), line('HELLO 抖音 2026'), line('抖音 直播 of the week')], tokenizer);
  assert.deepEqual(tags, ['dance', '抖音热门', '抖音', 'challenge', '热门', 'hello', '直播', 'week']);
});

test('a hashtag is stored without its # (the demo showed ##interophello)', () => {
  assert.deepEqual(keywordTags([line('#interophello')], tokenizer), ['interophello']);
  assert.deepEqual(keywordTags([line('＃Travel ＃TRAVEL #travel')], tokenizer), ['travel']);
});

test('Chinese is segmented into words and numbers stay inside them', () => {
  assert.deepEqual(keywordTags([line('美食探店第3期')], tokenizer), ['美食', '探店', '第3期']);
  assert.deepEqual(keywordTags([line('城市夜景延时摄影')], tokenizer), ['城市', '夜景', '延时', '摄影']);
  assert.deepEqual(keywordTags([line('第３期')], tokenizer), ['第3期'], 'full-width digits fold first');
});

test('a Chinese hashtag is a tag as a whole, and its words are tags too', () => {
  assert.deepEqual(keywordTags([line('#美食探店第3期')], tokenizer), ['美食探店第3期', '美食', '探店', '第3期']);
});

test('only true function words are dropped: "Game Over" gives game and over', () => {
  assert.deepEqual(keywordTags([line('Game Over')], tokenizer), ['game', 'over']);
  assert.deepEqual(keywordTags([line('I am in the 2026 a 好 Go')], tokenizer), ['go']);
});

test('keywords are ranked by how many lines carry them', () => {
  const tags = keywordTags([line('alpha beta'), line('beta gamma'), line('gamma beta 直播')], tokenizer);
  assert.deepEqual(tags.slice(0, 2), ['beta', 'gamma']);
});

test('low-confidence lines give no tags and the number of tags is capped', () => {
  assert.deepEqual(keywordTags([line('noise words', 0.3)], tokenizer), []);
  const many = Array.from({ length: 50 }, (_, i) => line(`word${i} extra${i}`));
  assert.equal(keywordTags(many, tokenizer, { maxTags: 7 }).length, 7);
  assert.equal(keywordTags(many, tokenizer).length, 20);
});

test('a hashtag stops where the script changes (OCR drops spaces between scripts)', () => {
  assert.deepEqual(keywordTags([line('#Dance抖音直播')], tokenizer), ['dance', '抖音', '直播']);
});
