/**
 * The tag rules shared by the tagger and the tag search (src/domain/tags.ts), with the real
 * jieba segmenter and its bundled dictionary.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundTagging, mergeNumbers, normaliseTag, TagTokenizer, TAGGING_LIMITS } from '../../src/domain/tags.ts';

const tokenizer = new TagTokenizer();

test('a tag is normalised: NFKC, lower case, no leading #, whitespace collapsed', () => {
  assert.equal(normaliseTag('#Travel'), 'travel');
  assert.equal(normaliseTag('＃ＴＲＡＶＥＬ'), 'travel');
  assert.equal(normaliseTag('##interophello'), 'interophello');
  assert.equal(normaliseTag('  Game\t Over \u0007'), 'game over');
  assert.equal(normaliseTag('第３期'), '第3期');
});

test('numbers stay inside the Chinese word they belong to', () => {
  assert.deepEqual(mergeNumbers(['美食', '探店', '第', '3', '期']), ['美食', '探店', '第3期']);
  assert.deepEqual(mergeNumbers(['1', '月', '1', '日']), ['1月', '1日']);
  assert.deepEqual(mergeNumbers(['双', '11', '购物', '节']), ['双11', '购物', '节']);
  assert.deepEqual(mergeNumbers(['618', '大促']), ['618', '大促']);
  assert.deepEqual(tokenizer.words('北京旅游攻略第12天'), ['北京', '旅游', '攻略', '第12天']);
  assert.deepEqual(tokenizer.words('2026年新年快乐'), ['2026年', '新年快乐']);
});

test('words: Chinese segmented, Latin words, kana and Hangul runs kept whole, bare numbers and function words dropped', () => {
  assert.deepEqual(tokenizer.words('城市夜景延时摄影'), ['城市', '夜景', '延时', '摄影']);
  assert.deepEqual(tokenizer.words('HELLO抖音2026'), ['hello', '抖音']);
  assert.deepEqual(tokenizer.words('iPhone15评测 5G手机'), ['iphone15', '评测', '5g', '手机']);
  assert.deepEqual(tokenizer.words('東京タワー 안녕하세요'), ['東京', 'タワー', '안녕하세요']);
  assert.deepEqual(tokenizer.words("Don’t stop the music"), ["don't", 'stop', 'music']);
  assert.deepEqual(tokenizer.words('我们的日常'), ['日常']);
});

test('Latin text never loads the Chinese dictionary', () => {
  const t = new TagTokenizer();
  assert.deepEqual(t.words('Game Over'), ['game', 'over']);
  assert.deepEqual(t.query('#Travel'), { key: 'travel', words: ['travel'] });
  assert.equal(t.segmenterLoaded, false);
  t.words('美食');
  assert.equal(t.segmenterLoaded, true);
});

test('a tag search is read with the same rules', () => {
  assert.deepEqual(tokenizer.query('#Travel'), { key: 'travel', words: ['travel'] });
  assert.deepEqual(tokenizer.query('美食探店第３期'), { key: '美食探店第3期', words: ['美食', '探店', '第3期'] });
  assert.deepEqual(tokenizer.query('Game Over'), { key: 'game over', words: ['game', 'over'] });
  assert.deepEqual(tokenizer.query('no-audio'), { key: 'no-audio', words: ['no', 'audio'] });
  for (const bad of ['#', '  ', '\u0007', 'x'.repeat(65)]) {
    assert.throws(() => tokenizer.query(bad), { code: 'E_VALIDATION' }, JSON.stringify(bad));
  }
});

test('stored tagging is normalised and capped', () => {
  const many = Array.from({ length: 1000 }, (_, i) => ({ startS: i, endS: i + 0.5 }));
  const lines = Array.from({ length: 100 }, (_, i) => ({ text: `line ${i} ${'字'.repeat(300)}`, confidence: 0.9, box: [[0, 0], [1, 0], [1, 1], [0, 1]] as [[number, number], [number, number], [number, number], [number, number]] }));
  const out = boundTagging({
    tags: ['#Travel', 'travel', '', '#', 'x'.repeat(65), ...Array.from({ length: 100 }, (_, i) => `t${i}`)],
    ocr: lines,
    frame: { width: 640, height: 360 },
    speechRatio: 0.5,
    speechSegments: many,
  });
  assert.equal(out.tags[0], 'travel');
  assert.equal(out.tags.filter((t) => t === 'travel').length, 1);
  assert.ok(!out.tags.includes('') && out.tags.every((t) => t.length <= 64));
  assert.equal(out.tags.length, TAGGING_LIMITS.tags);
  assert.equal(out.ocr?.length, TAGGING_LIMITS.ocrLines);
  assert.ok(out.ocr?.every((l) => [...l.text].length <= TAGGING_LIMITS.ocrTextChars && l.box?.length === 4));
  assert.equal(out.speechSegments?.length, TAGGING_LIMITS.speechSegments);
  assert.deepEqual(out.frame, { width: 640, height: 360 });
  assert.equal(out.speechRatio, 0.5);
});

test('short-video words the dictionary lacks are words: 关注点赞 is follow + like', () => {
  assert.deepEqual(tokenizer.words('关注点赞'), ['关注', '点赞']);
  assert.deepEqual(tokenizer.words('抖音热门'), ['抖音', '热门']);
});
