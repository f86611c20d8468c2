/**
 * The sensitive-word filter: an Aho-Corasick matcher (modern-ahocorasick) over a word list
 * with categories, each of which rejects the text (E_CONTENT_REJECTED naming the field) or
 * masks the words it finds. Text and words are normalised the same way before matching, so
 * full-width forms, case, spacing, zero-width characters and look-alikes do not slip through;
 * masking maps the match back to the original characters.
 */
import { readFileSync } from 'node:fs';
import AhoCorasick from 'modern-ahocorasick';
import { TremoloError } from '../protocol/errors.ts';

export type FilterAction = 'reject' | 'mask';

export interface WordCategory {
  name: string;
  action: FilterAction;
  words: string[];
}

/** The shipped list (config/sensitive-words.txt), used when MODERATION_WORDS_FILE is empty. */
export const DEFAULT_WORDS_FILE = new URL('../../config/sensitive-words.txt', import.meta.url);

/** Look-alikes folded to the letter they imitate (after NFKC and lower-casing). */
const LOOKALIKES: Record<string, string> = {
  '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', '$': 's', '!': 'i', '|': 'l',
  // Cyrillic
  'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j', 'ѕ': 's',
  // Greek
  'α': 'a', 'β': 'b', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
};

/** Characters dropped before matching: spacing, punctuation between letters, zero-width and format characters. */
const DROPPED = /[\s\p{P}\p{Cf}\p{Mn}\p{Zs}]/u;

/**
 * `text` as the matcher sees it, and for each of its UTF-16 units the range of original
 * text it came from.
 */
export function normalizeForMatching(text: string): { text: string; from: number[]; to: number[] } {
  let out = '';
  const from: number[] = [];
  const to: number[] = [];
  let i = 0;
  for (const ch of text) {
    const start = i;
    i += ch.length;
    for (const c of ch.normalize('NFKD').normalize('NFKC').toLowerCase()) {
      const folded = LOOKALIKES[c] ?? c;
      // look-alike symbols ('@', '$', '!', '|') are kept as letters; other punctuation goes
      if (folded === c && DROPPED.test(c)) continue;
      for (let k = 0; k < folded.length; k++) {
        out += folded[k];
        from.push(start);
        to.push(i);
      }
    }
  }
  return { text: out, from, to };
}

/** Reads a word list: `[<category> reject|mask]` headers, then one word a line; `#` comments. */
export function parseWordList(source: string): WordCategory[] {
  const categories: WordCategory[] = [];
  let current: WordCategory | undefined;
  for (const [n, raw] of source.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const header = /^\[\s*([\p{L}\p{N}_-]+)\s+(reject|mask)\s*\]$/u.exec(line);
    if (header) {
      current = { name: header[1]!, action: header[2] as FilterAction, words: [] };
      categories.push(current);
    } else if (line.startsWith('[')) {
      throw new Error(`word list line ${n + 1}: a header is [<category> reject|mask]`);
    } else {
      if (!current) throw new Error(`word list line ${n + 1}: a word before the first [<category> <action>] header`);
      current.words.push(line);
    }
  }
  return categories;
}

interface Hit {
  category: string;
  action: FilterAction;
}

export class ContentFilter {
  private readonly matcher: AhoCorasick<Hit> | undefined;

  constructor(categories: readonly WordCategory[]) {
    const patterns: { pattern: string; data: Hit }[] = [];
    for (const c of categories) {
      for (const w of c.words) {
        const pattern = normalizeForMatching(w).text;
        if (pattern !== '') patterns.push({ pattern, data: { category: c.name, action: c.action } });
      }
    }
    this.matcher = patterns.length ? new AhoCorasick(patterns) : undefined;
  }

  /** A filter over a word list file (the shipped one when `path` is empty). */
  static fromFile(path: string | URL | undefined): ContentFilter {
    return new ContentFilter(parseWordList(readFileSync(path || DEFAULT_WORDS_FILE, 'utf8')));
  }

  /**
   * `text` with the words of masking categories masked; E_CONTENT_REJECTED naming `field`
   * (and the category) when a word of a rejecting category is in it.
   */
  check(field: string, text: string): string {
    if (!this.matcher || text === '') return text;
    const norm = normalizeForMatching(text);
    const matches = this.matcher.search(norm.text);
    if (matches.length === 0) return text;
    const rejected = matches.find((m) => m.data?.action === 'reject');
    if (rejected) {
      throw new TremoloError('E_CONTENT_REJECTED', `The ${field} contains words that are not allowed (${rejected.data!.category})`, {
        details: { field, category: rejected.data!.category },
      });
    }
    const masked = new Array<boolean>(text.length).fill(false);
    for (const m of matches) {
      for (let k = norm.from[m.start]!; k < norm.to[m.end - 1]!; k++) masked[k] = true;
    }
    let out = '';
    let i = 0;
    for (const ch of text) {
      out += masked[i] && !/\s/u.test(ch) ? '*' : ch;
      i += ch.length;
    }
    return out;
  }

  /** Whether `text` holds a word of any category (e.g. a tag that must not be indexed). */
  matches(text: string): boolean {
    return this.matcher?.match(normalizeForMatching(text).text) ?? false;
  }
}
