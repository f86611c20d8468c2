/**
 * The sensitive-word filter (normalisation, categories, masking back onto the original text)
 * and `@handle` mentions.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findMentions } from '../../src/domain/mentions.ts';
import { ContentFilter, normalizeForMatching, parseWordList } from '../../src/domain/moderation.ts';
import { TremoloError } from '../../src/protocol/errors.ts';

const filter = new ContentFilter(
  parseWordList(`
# a comment
[abuse reject]
kill yourself
傻逼
[spam mask]
buy followers
加微信
`),
);

const rejected = (text: string) => {
  try {
    filter.check('text', text);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof TremoloError);
    return [err.code, err.details];
  }
};

describe('sensitive-word filter', () => {
  it('normalises full-width forms, case, spacing, zero-width characters and look-alikes', () => {
    assert.equal(normalizeForMatching('ＢＵＹ  Fo\u200bll0w3rs, d!ck').text, 'buyfollowersdick');
    assert.equal(normalizeForMatching('ВUY').text, 'buy', 'Cyrillic В is not a Latin letter, but looks like one');
    assert.equal(normalizeForMatching('加 微 信').text, '加微信');
  });

  it('rejects words of a rejecting category, naming the field and the category', () => {
    assert.deepEqual(rejected('K i l l   Y o u r s e l f'), ['E_CONTENT_REJECTED', { field: 'text', category: 'abuse' }]);
    assert.deepEqual(rejected('你是傻　逼'), ['E_CONTENT_REJECTED', { field: 'text', category: 'abuse' }]);
    assert.equal(rejected('fine words only'), undefined);
  });

  it('masks words of a masking category in the original text, keeping everything else', () => {
    assert.equal(filter.check('text', 'Come BUY f0llowers here'), 'Come *** ********* here');
    assert.equal(filter.check('text', '快来加　微　信吧'), '快来*　*　*吧');
    assert.equal(filter.check('text', 'nothing to see 👀'), 'nothing to see 👀');
    assert.equal(filter.check('text', ''), '');
  });

  it('tells whether a text holds any listed word; an empty list lets everything through', () => {
    assert.equal(filter.matches('buyfollowers'), true);
    assert.equal(filter.matches('travel'), false);
    assert.equal(new ContentFilter([]).check('text', 'kill yourself'), 'kill yourself');
  });

  it('refuses a malformed word list', () => {
    assert.throws(() => parseWordList('word before header'), /header/);
    assert.throws(() => parseWordList('[abuse delete]\nx'), /header/);
  });

  it('loads the shipped list', () => {
    const shipped = ContentFilter.fromFile(undefined);
    assert.equal(shipped.check('text', 'what a load of bullshit'), 'what a load of ********');
    assert.throws(() => shipped.check('title', 'kys'), (e: TremoloError) => e.code === 'E_CONTENT_REJECTED' && e.details?.field === 'title');
  });
});

describe('mentions', () => {
  it('finds distinct handles with their offsets, not e-mail addresses, at most `max`', () => {
    assert.deepEqual(findMentions('hi @Ana and @bob.smith. also @ana again, mail x@ana.com', 10), [
      { handle: 'Ana', start: 3, end: 7 },
      { handle: 'bob.smith', start: 12, end: 22 },
    ]);
    assert.deepEqual(findMentions('@a1 @xy too short', 10), [], 'handles have at least 3 characters');
    assert.deepEqual(findMentions('@one @two @three', 2).map((m) => m.handle), ['one', 'two']);
    assert.deepEqual(findMentions('（@alice）', 10), [{ handle: 'alice', start: 1, end: 7 }]);
  });
});
