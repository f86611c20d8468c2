import type { OcrLine } from './types.ts';

export interface KeywordSettings {
  /** Most tags derived from on-screen text (hashtags first). */
  maxTags: number;
  /** Lines read with less confidence give no tags. */
  minConfidence: number;
  stopwords: ReadonlySet<string>;
}

/** Common English function words: frequent on screen, useless as tags. */
export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by can do for from has have he her his how i if in into is it its me my no not of ' +
    'on or our she so that the their them then there they this to up us was we what when where which who why will ' +
    'with you your yours am been did does had just more most than too very all any out about over only own'
  ).split(' '),
);

export const DEFAULT_KEYWORD_SETTINGS: KeywordSettings = {
  maxTags: 20,
  minConfidence: 0.5,
  stopwords: ENGLISH_STOPWORDS,
};

const HAS_LATIN_LETTER = /\p{Script=Latin}/u;
/** Runs of CJK characters; Chinese has no spaces, so a run is the unit we can keep without a segmenter. */
const CJK_RUN_SOURCE = String.raw`[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]{2,}`;
const LATIN_TOKEN_SOURCE = String.raw`[\p{Script=Latin}\p{Nd}]+(?:['’][\p{Script=Latin}]+)*`;
/**
 * A hashtag's body is one script: OCR often drops the space between "#Dance" and the Chinese
 * that follows, and the tag should not swallow it.
 */
const HASHTAG = new RegExp(String.raw`#([\p{Script=Latin}\p{Nd}_]+|[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Nd}_]+)`, 'gu');
/** Tokens in reading order: a CJK run (group 1) or a Latin word (group 2). */
const TOKEN = new RegExp(`(${CJK_RUN_SOURCE})|(${LATIN_TOKEN_SOURCE})`, 'gu');

/**
 * The comparison form of a line: NFKC (full-width letters and ＃ become ASCII), lower case,
 * no whitespace (the recogniser is inconsistent about spaces between scripts).
 */
export function normaliseText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, '');
}

/**
 * The same caption usually sits on many keyframes: keep one line per normalised text, the one
 * read with the highest confidence, in order of first appearance.
 */
export function dedupeLines(lines: readonly OcrLine[]): OcrLine[] {
  const best = new Map<string, OcrLine>();
  for (const line of lines) {
    const key = normaliseText(line.text);
    if (key === '') continue;
    const seen = best.get(key);
    if (!seen) best.set(key, line);
    else if (line.confidence > seen.confidence) best.set(key, line); // Map keeps the first position
  }
  return [...best.values()];
}

/**
 * Tags from on-screen text: `#hashtags` as written (lower-cased), then keywords: Latin words of
 * two or more characters that are not stop words or bare numbers, and CJK runs of two or more
 * characters. Ranked by how many distinct lines carry them, ties by first appearance; capped.
 */
export function keywordTags(lines: readonly OcrLine[], settings: Partial<KeywordSettings> = {}): string[] {
  const s = { ...DEFAULT_KEYWORD_SETTINGS, ...settings };
  const hashtags: string[] = [];
  const counts = new Map<string, number>();
  for (const line of dedupeLines(lines)) {
    if (line.confidence < s.minConfidence) continue;
    const text = line.text.normalize('NFKC');
    for (const m of text.matchAll(HASHTAG)) {
      const tag = `#${(m[1] ?? '').toLowerCase()}`;
      if (!hashtags.includes(tag)) hashtags.push(tag);
    }
    const rest = text.replace(HASHTAG, ' ');
    const inLine = new Set<string>();
    for (const m of rest.matchAll(TOKEN)) {
      if (m[1]) {
        inLine.add(m[1]);
        continue;
      }
      const word = (m[2] ?? '').toLowerCase().replace(/’/g, "'");
      if ([...word].length >= 2 && HAS_LATIN_LETTER.test(word) && !s.stopwords.has(word)) inLine.add(word);
    }
    for (const word of inLine) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const keywords = [...counts.entries()]
    .map(([word, n], order) => ({ word, n, order }))
    .sort((a, b) => b.n - a.n || a.order - b.order)
    .map((k) => k.word)
    .filter((w) => !hashtags.includes(`#${w}`));
  return [...hashtags, ...keywords].slice(0, s.maxTags);
}
