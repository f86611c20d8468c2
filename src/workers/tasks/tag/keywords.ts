import type { TagTokenizer } from '../../../domain/tags.ts';
import type { OcrLine } from './types.ts';

export interface KeywordSettings {
  /** Most tags derived from on-screen text (hashtags first). */
  maxTags: number;
  /** Lines read with less confidence give no tags. */
  minConfidence: number;
}

export const DEFAULT_KEYWORD_SETTINGS: KeywordSettings = {
  maxTags: 20,
  minConfidence: 0.5,
};

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
 * Tags from on-screen text: `#hashtags` (without the `#`, normalised), then words (the
 * tokenizer's rules: Chinese segmented, numbers kept inside words, only function words
 * dropped), a hashtag's own words included. Words are ranked by how many distinct lines carry
 * them, ties by first appearance; capped.
 */
export function keywordTags(lines: readonly OcrLine[], tokenizer: TagTokenizer, settings: Partial<KeywordSettings> = {}): string[] {
  const s = { ...DEFAULT_KEYWORD_SETTINGS, ...settings };
  const hashtags: string[] = [];
  const counts = new Map<string, number>();
  for (const line of dedupeLines(lines)) {
    if (line.confidence < s.minConfidence) continue;
    for (const tag of tokenizer.hashtags(line.text)) if (!hashtags.includes(tag)) hashtags.push(tag);
    // the words of hashtags count too: a word of #美食探店 finds the video
    const inLine = new Set(tokenizer.words(line.text));
    for (const word of inLine) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const keywords = [...counts.entries()]
    .map(([word, n], order) => ({ word, n, order }))
    .sort((a, b) => b.n - a.n || a.order - b.order)
    .map((k) => k.word)
    .filter((w) => !hashtags.includes(w));
  return [...hashtags, ...keywords].slice(0, s.maxTags);
}
