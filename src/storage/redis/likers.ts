/**
 * How a video's likers are stored on Redis (lua/includes/likers.lua holds the layout): a user
 * id that is a TSID goes in as its 64-bit value in decimal, which Redis keeps in an intset
 * (8 bytes) rather than as a 13-character string in a hashtable (~56 bytes). The conversion is
 * done here, not in Lua, whose numbers are doubles.
 */
import { tsidDecimal } from '../../domain/ids.ts';

/**
 * The member a user is stored as in the likers buckets. An id that is not a TSID (test data,
 * ids from another system) is kept as text behind `s:`, which no decimal integer starts with,
 * so it can never be taken for a TSID's member.
 */
export function likerMember(userId: string): string {
  return tsidDecimal(userId) ?? `s:${userId}`;
}
