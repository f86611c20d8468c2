/**
 * How a video's likers are stored on Redis (lua/includes/likers.lua holds the layout): a user
 * id that is a TSID goes in as its 64-bit value in decimal, which Redis keeps in an intset
 * (8 bytes) rather than as a 13-character string in a hashtable (~56 bytes). The conversion is
 * done here, not in Lua, whose numbers are doubles.
 */
import { TSID_LENGTH } from '../../domain/ids.ts';

/** Crockford base32 digit of each ASCII code a TSID may hold (upper case, as isTsid), -1 otherwise. */
const DIGIT = new Int8Array(128).fill(-1);
[...'0123456789ABCDEFGHJKMNPQRSTVWXYZ'].forEach((c, i) => (DIGIT[c.charCodeAt(0)] = i));
const LIMB = 1e7;

/**
 * The member a user is stored as in the likers buckets. An id that is not a TSID (test data,
 * ids from another system) is kept as text behind `s:`, which no decimal integer starts with,
 * so it can never be taken for a TSID's member.
 */
export function likerMember(userId: string): string {
  return tsidDecimal(userId) ?? `s:${userId}`;
}

/**
 * A TSID's 64-bit value in decimal, or undefined when `text` is not a TSID (the rule of
 * domain/ids.ts `isTsid`). Every like converts one, so it is done without a bigint or a
 * regular expression: the base-32 digits are folded into three base-10^7 limbs (a 64-bit
 * value has at most 20 decimal digits), each step exact in doubles (< 32 * 10^7 + 32).
 */
export function tsidDecimal(text: string): string | undefined {
  if (text.length !== TSID_LENGTH) return undefined;
  let lo = 0;
  let mid = 0;
  let hi = 0;
  for (let i = 0; i < TSID_LENGTH; i++) {
    const code = text.charCodeAt(i);
    const d = code < 128 ? DIGIT[code]! : -1;
    // the top bit of the 65 encoded stays 0: the first digit is at most 7
    if (d < 0 || (i === 0 && d > 7)) return undefined;
    let x = lo * 32 + d;
    lo = x % LIMB;
    x = mid * 32 + Math.floor(x / LIMB);
    mid = x % LIMB;
    hi = hi * 32 + Math.floor(x / LIMB);
  }
  if (hi > 0) return `${hi}${String(mid).padStart(7, '0')}${String(lo).padStart(7, '0')}`;
  if (mid > 0) return `${mid}${String(lo).padStart(7, '0')}`;
  return String(lo);
}
