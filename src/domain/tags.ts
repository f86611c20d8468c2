/**
 * Tags: how text becomes tags, and how a tag search is read. One set of rules for the tagger
 * (worker threads) and the tag search (engine), so a search looks up exactly what was indexed.
 *
 * - A tag is stored normalised: NFKC (full-width letters, digits and `＃` become ASCII), lower
 *   case, no leading `#`, whitespace collapsed; at most MAX_TAG_CHARS characters.
 * - Chinese is segmented into words by a dictionary segmenter (jieba, plus SHORT_VIDEO_WORDS);
 *   a number stays inside the word it belongs to (see `mergeNumbers`). Japanese kana and
 *   Korean runs are kept whole (no segmenter for them).
 * - Latin words of 2+ characters with a letter; only true function words (the stop lists are
 *   minimal) are dropped, so "Game Over" gives `game` and `over`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Jieba } from '@node-rs/jieba';
import { TremoloError } from '../protocol/errors.ts';
import type { TagInfo } from '../protocol/model.ts';
import { cleanText } from './text.ts';

/** Longest tag, in characters; the tag search accepts no longer a query. */
export const MAX_TAG_CHARS = 64;

/** Bounds on what one video's tagging may store (it is kept on the video record). */
export const TAGGING_LIMITS = {
  tags: 64,
  ocrLines: 50,
  ocrTextChars: 200,
  speechSegments: 200,
} as const;

/** Splits a run of Chinese text into words. */
export interface WordSegmenter {
  cut(text: string): string[];
}

/**
 * English function words that are never a tag on their own: articles, pronouns, auxiliaries,
 * conjunctions and the commonest prepositions. Words that carry meaning in a title ("over",
 * "up", "out", "all", "no", "how") are not here: "Game Over" must give `over`.
 */
export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an the and or but nor of to in on at by for with from as into ' +
    'is are was were be been being am do does did has have had ' +
    'i me my mine you your yours he him his she her hers it its we us our ours they them their theirs ' +
    'this that these those'
  ).split(' '),
);

/** Chinese function words of two characters (single characters are never tags anyway). */
export const CHINESE_STOPWORDS: ReadonlySet<string> = new Set(
  (
    '我们 你们 他们 她们 它们 咱们 自己 这个 那个 这些 那些 这样 那样 什么 怎么 ' +
    '因为 所以 但是 而且 如果 虽然 然后 或者 还是 就是 可以 已经 没有 一个 一些'
  ).split(' '),
);

const HAN = String.raw`\p{Script=Han}`;
/** Kana, with the prolonged sound mark ー (script Common) that sits inside katakana words. */
const KANA = String.raw`\p{Script=Hiragana}\p{Script=Katakana}\u30FC`;
const HANGUL = String.raw`\p{Script=Hangul}`;
const LATIN_WORD = String.raw`[\p{Script=Latin}\p{Nd}]+(?:'[\p{Script=Latin}]+)*`;
/**
 * Tokens in reading order: a Chinese run with the digits inside or before it (group 1), a kana
 * run (2), a Hangul run (3), a Latin word (4). Digits glued to a Latin word stay in it (`iphone15`).
 */
const TOKEN = new RegExp(`(\\p{Nd}*[${HAN}][${HAN}\\p{Nd}]*)|([${KANA}]+)|([${HANGUL}]+)|(${LATIN_WORD})`, 'gu');
/**
 * A hashtag's body is one script: OCR often drops the space between "#Dance" and the Chinese
 * that follows, and the tag should not swallow it.
 */
const HASHTAG = new RegExp(`#([\\p{Script=Latin}\\p{Nd}_]+|[${HAN}${KANA}${HANGUL}\\p{Nd}_]+)`, 'gu');
const DIGITS = /^\p{Nd}+$/u;
const ONE_HAN = new RegExp(`^[${HAN}]$`, 'u');
const HAS_HAN = new RegExp(`[${HAN}]`, 'u');
const HAS_LATIN_LETTER = /\p{Script=Latin}/u;

/**
 * The stored form of a tag, and of a tag search: NFKC, control characters removed, lower
 * case, leading `#` removed, whitespace collapsed to single spaces.
 */
export function normaliseTag(raw: string): string {
  return cleanText(raw.normalize('NFKC'))
    .toLowerCase()
    .replace(/^#+/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The text form the tokenizer works on: NFKC, lower case, typographic apostrophes as `'`. */
function foldText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[’‘]/g, "'");
}

/**
 * Keeps numbers inside words: jieba cuts "第3期" into 第 / 3 / 期. A digit run is joined with a
 * single Chinese character right before it (第3, 双11) and one right after it (3期, 2026年),
 * so "美食探店第3期" gives 美食, 探店, 第3期. A number with no such neighbour stays alone (and,
 * being a bare number, is no tag).
 */
export function mergeNumbers(tokens: readonly string[]): string[] {
  const out: string[] = [];
  let glued = false; // the last output token already took a number: 1月1日 is 1月 + 1日
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!DIGITS.test(t)) {
      out.push(t);
      glued = false;
      continue;
    }
    let word = t;
    const prev = out.at(-1);
    if (prev !== undefined && !glued && ONE_HAN.test(prev)) word = out.pop()! + word;
    const next = tokens[i + 1];
    if (next !== undefined && ONE_HAN.test(next)) {
      word += next;
      i++;
    }
    out.push(word);
    glued = word !== t;
  }
  return out;
}

/**
 * Short-video words jieba's bundled dictionary lacks: without them "关注点赞" (follow, like) is
 * cut as 关注点 / 赞. Added with a common word's frequency.
 */
export const SHORT_VIDEO_WORDS: readonly string[] = (
  '点赞 抖音 快手 小红书 短视频 探店 带货 网红 评论区 一键三连 涨粉 同款 变装 萌宠 穿搭 美妆 旅拍 吃播'
).split(' ');

/** jieba with its bundled dictionary and SHORT_VIDEO_WORDS (about 0.3 s and 40 MB to load). */
function jiebaSegmenter(): WordSegmenter {
  const load = createRequire(import.meta.url);
  const { Jieba: JiebaClass } = load('@node-rs/jieba') as { Jieba: typeof Jieba };
  const jieba = JiebaClass.withDict(readFileSync(load.resolve('@node-rs/jieba/dict.txt')));
  jieba.loadDict(Buffer.from(SHORT_VIDEO_WORDS.map((w) => `${w} 2000 n`).join('\n')));
  // HMM on: it finds words the dictionary lacks (探店, 抖音, 点赞)
  return { cut: (text) => jieba.cut(text, true) };
}

/** What a tag search looks up. */
export interface TagQuery {
  /** The query as one tag (a hashtag, a label such as `no-audio`). */
  key: string;
  /** Its words, as the tagger would index them; a video with all of them matches. */
  words: string[];
}

/**
 * Turns text into tags. Owns its word segmenter, created on the first Chinese text it sees:
 * build one per process (or worker thread) and pass it to whatever needs it.
 */
export class TagTokenizer {
  #segmenter: WordSegmenter | undefined;
  readonly #load: () => WordSegmenter;

  constructor(loadSegmenter: () => WordSegmenter = jiebaSegmenter) {
    this.#load = loadSegmenter;
  }

  /** Whether the dictionary has been loaded (it is only needed for Chinese text). */
  get segmenterLoaded(): boolean {
    return this.#segmenter !== undefined;
  }

  /**
   * The words of `text` that can be tags, in reading order, repeats kept: normalised, no stop
   * words, no single characters, no bare numbers.
   */
  words(text: string): string[] {
    const out: string[] = [];
    for (const m of foldText(text).matchAll(TOKEN)) {
      const [, han, kana, hangul, latin] = m;
      if (han !== undefined) {
        for (const w of mergeNumbers(this.#segment(han))) {
          if ([...w].length >= 2 && HAS_HAN.test(w) && !CHINESE_STOPWORDS.has(w)) out.push(w);
        }
      } else if (kana !== undefined || hangul !== undefined) {
        const run = (kana ?? hangul)!;
        if ([...run].length >= 2) out.push(run);
      } else if (latin !== undefined) {
        if ([...latin].length >= 2 && HAS_LATIN_LETTER.test(latin) && !ENGLISH_STOPWORDS.has(latin)) out.push(latin);
      }
    }
    return out.filter((w) => [...w].length <= MAX_TAG_CHARS);
  }

  /** The `#hashtags` of `text` as tags (without the `#`), in order, once each. */
  hashtags(text: string): string[] {
    const tags: string[] = [];
    for (const m of foldText(text).matchAll(HASHTAG)) {
      const tag = normaliseTag(m[1] ?? '');
      if (tag !== '' && [...tag].length <= MAX_TAG_CHARS && !tags.includes(tag)) tags.push(tag);
    }
    return tags;
  }

  /** Reads a tag search: `#Travel`, `travel` and `TRAVEL` are the same query. */
  query(raw: string): TagQuery {
    const key = normaliseTag(raw);
    if (key === '' || [...key].length > MAX_TAG_CHARS) {
      throw new TremoloError('E_VALIDATION', `tag must be 1 to ${MAX_TAG_CHARS} characters besides "#"`, { details: { field: 'tag' } });
    }
    return { key, words: [...new Set(this.words(key))] };
  }

  #segment(run: string): string[] {
    this.#segmenter ??= this.#load();
    return this.#segmenter.cut(run);
  }
}

/**
 * A video's tagging as it may be stored: tags normalised and de-duplicated, and every list
 * capped (TAGGING_LIMITS), so no video stores unbounded data whatever a tagger produced.
 */
export function boundTagging(tagging: TagInfo): TagInfo {
  const tags: string[] = [];
  for (const raw of tagging.tags) {
    const tag = typeof raw === 'string' ? normaliseTag(raw) : '';
    if (tag !== '' && [...tag].length <= MAX_TAG_CHARS && !tags.includes(tag)) tags.push(tag);
    if (tags.length === TAGGING_LIMITS.tags) break;
  }
  const out: TagInfo = { tags };
  if (tagging.ocr) {
    out.ocr = tagging.ocr.slice(0, TAGGING_LIMITS.ocrLines).map((l) => ({
      ...l,
      text: [...l.text].slice(0, TAGGING_LIMITS.ocrTextChars).join(''),
    }));
  }
  if (tagging.frame) out.frame = { width: tagging.frame.width, height: tagging.frame.height };
  if (tagging.speechRatio !== undefined) out.speechRatio = tagging.speechRatio;
  if (tagging.speechSegments) out.speechSegments = tagging.speechSegments.slice(0, TAGGING_LIMITS.speechSegments).map((s) => ({ startS: s.startS, endS: s.endS }));
  return out;
}
