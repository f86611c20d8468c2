/**
 * `@handle` in user text. Handles are as registration allows them (a letter, then letters,
 * digits, `_` or `.`); an `@` inside a word (an e-mail address) is not a mention.
 */

export interface HandleMention {
  /** As written (case kept); handles are compared case-insensitively. */
  handle: string;
  start: number;
  end: number;
}

const MENTION = /(?<![\p{L}\p{N}_.@])@([a-zA-Z][a-zA-Z0-9_.]*)/gu;

/** The distinct handles mentioned in `text` (first occurrence of each), at most `max`. */
export function findMentions(text: string, max: number): HandleMention[] {
  const seen = new Set<string>();
  const out: HandleMention[] = [];
  for (const m of text.matchAll(MENTION)) {
    // a sentence's full stop is not part of the handle
    const handle = m[1]!.replace(/\.+$/, '');
    const key = handle.toLowerCase();
    if (handle.length < 3 || seen.has(key)) continue;
    seen.add(key);
    out.push({ handle, start: m.index, end: m.index + 1 + handle.length });
    if (out.length === max) break;
  }
  return out;
}
