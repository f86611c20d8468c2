/**
 * The domain's text rules (src/domain/text.ts), shared by REST and sockets: text a
 * reader cannot see is not a title, a comment, a description or a display name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { requireText } from '../../src/domain/text.ts';

const limits = { min: 1, max: 150 };
const refusedAs = (field: string) => (e: unknown) =>
  e instanceof TremoloError && e.code === 'E_VALIDATION' && (e.details as { field?: string } | undefined)?.field === field;

describe('requireText', () => {
  it('refuses text made only of invisible characters', () => {
    const invisible = [
      '\u200B', // zero width space
      '\u2060', // word joiner
      '\u200B\u2060\u200C\u200D', // zero width space, word joiner, non-joiner, joiner
      '\u0301', // a lone combining acute accent
      '\u0301\u0308\u20DD', // combining marks with nothing to combine with
      '\u200B \u200B', // invisible around a space
      '\uFEFF\u00AD\u034F\u180E', // BOM, soft hyphen, grapheme joiner, Mongolian vowel separator
      '\u3164\uFFA0\u115F\u1160', // Hangul fillers
      '\u2800\u2800', // braille blank
      '\uFE0F\u{E0041}\u{E007F}', // a variation selector and tag characters
      '\u2061\u2062\u2063\u2064', // invisible mathematical operators
      '\u200E\u200F\u061C', // directional marks
      '\u{1D173}\u{1D17A}', // musical formatting characters
    ];
    for (const text of invisible) {
      assert.throws(() => requireText('title', text, limits), refusedAs('title'), JSON.stringify(text));
    }
  });

  it('refuses invisible-only text even where empty text is allowed', () => {
    assert.equal(requireText('description', '', { min: 0, max: 10 }), '');
    assert.equal(requireText('description', '   ', { min: 0, max: 10 }), '');
    assert.throws(() => requireText('description', '\u200B', { min: 0, max: 10 }), refusedAs('description'));
  });

  it('refuses lone surrogates (not text, and stored differently by each driver)', () => {
    assert.throws(() => requireText('text', 'hi \uD800', limits), refusedAs('text'));
    assert.throws(() => requireText('text', '\uDFFF', limits), refusedAs('text'));
  });

  it('keeps visible text verbatim, invisible characters inside it included', () => {
    const visible = [
      'hello',
      'e\u0301', // e + combining acute
      'a\u200Bb', // a zero width space between letters
      '\u{1F469}\u200D\u{1F4BB}', // an emoji joined with ZWJ
      '\u{1F44D}\u{1F3FD}', // an emoji with a skin tone
      '\u0915\u094D\u0937', // Devanagari conjunct (virama)
      '\u62D6\u97F3', // CJK
      '\u0627\u0644\u0639\u0631\u0628\u064A\u0629', // Arabic
      '\uE000', // private use: a visible glyph in the app's own font
      '.',
    ];
    for (const text of visible) assert.equal(requireText('title', text, limits), text, JSON.stringify(text));
  });

  it('still trims, removes controls and checks the length', () => {
    assert.equal(requireText('title', '  hi\u0007 ', limits), 'hi');
    assert.throws(() => requireText('title', '   ', limits), refusedAs('title'));
    assert.throws(() => requireText('title', 'x'.repeat(151), limits), refusedAs('title'));
    assert.throws(() => requireText('title', 12, limits), refusedAs('title'));
  });
});
