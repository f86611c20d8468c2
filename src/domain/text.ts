/**
 * Text rules for user input: trimmed, control characters removed (newlines and tabs
 * kept), otherwise stored verbatim. Length is counted in characters (code points).
 * Text must show something: text made only of invisible characters (zero-width and
 * other format characters, combining marks with nothing to combine with, fillers) is
 * refused, as are lone surrogates, which are not text and which each storage driver
 * would keep differently.
 */
import { TremoloError } from '../protocol/errors.ts';

// C0 and C1 controls except tab/newline/carriage return, plus bidi overrides used for spoofing.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/gu;

// What renders as nothing on its own: whitespace, controls, format characters (U+200B,
// U+2060, bidi marks, tags), marks without a base, default-ignorables (Hangul fillers,
// variation selectors) and the braille blank that passes for a space.
const INVISIBLE_ONLY = /^[\p{White_Space}\p{Cc}\p{Cf}\p{M}\p{Default_Ignorable_Code_Point}\u2800]*$/u;
const LONE_SURROGATE = /\p{Cs}/u;

export function cleanText(raw: string): string {
  return raw.replace(CONTROL, '').trim();
}

/** Cleans `raw` and checks its length; throws E_VALIDATION naming `field`. */
export function requireText(field: string, raw: unknown, opts: { min: number; max: number }): string {
  if (typeof raw !== 'string') {
    throw new TremoloError('E_VALIDATION', `${field} must be a string`, { details: { field } });
  }
  const text = cleanText(raw);
  if (LONE_SURROGATE.test(text)) {
    throw new TremoloError('E_VALIDATION', `${field} must be valid Unicode text`, { details: { field } });
  }
  const length = [...text].length;
  if (length < opts.min || length > opts.max) {
    throw new TremoloError('E_VALIDATION', `${field} must be ${opts.min} to ${opts.max} characters`, {
      details: { field },
    });
  }
  if (length > 0 && INVISIBLE_ONLY.test(text)) {
    throw new TremoloError('E_VALIDATION', `${field} must contain a visible character`, { details: { field } });
  }
  return text;
}

/** Handles: 3..max characters of a-z, 0-9, underscore and dot, starting with a letter; case-insensitive. */
export function normalizeHandle(raw: unknown, max: number): string {
  if (typeof raw !== 'string' || !new RegExp(`^[a-zA-Z][a-zA-Z0-9_.]{2,${max - 1}}$`).test(raw)) {
    throw new TremoloError(
      'E_VALIDATION',
      `handle must be 3 to ${max} characters: letters, digits, "_" or ".", starting with a letter`,
      { details: { field: 'handle' } },
    );
  }
  return raw.toLowerCase();
}
