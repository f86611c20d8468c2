/**
 * Opaque cursors. A cursor names the last item a page returned (an id or an offset),
 * so a page boundary stays put when new items are inserted before or after it.
 */
import { TremoloError } from '../protocol/errors.ts';

export function encodeCursor(position: string | number): string {
  return Buffer.from(JSON.stringify([position]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const position = parse(cursor);
  if (typeof position !== 'string') throw new TremoloError('E_BAD_CURSOR');
  return position;
}

export function decodeOffsetCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  const position = parse(cursor);
  return requireOffset(typeof position === 'number' ? position : Number.NaN);
}

/**
 * An offset from a client's cursor, as every driver accepts it: a non-negative safe
 * integer. Anything else is E_BAD_CURSOR, e.g. 1e21, an integer to JavaScript that
 * Redis would be sent as "1e+21" and refuse.
 */
export function requireOffset(offset: number): number {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new TremoloError('E_BAD_CURSOR');
  return offset;
}

function parse(cursor: string): unknown {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 1) return value[0];
  } catch {
    // fall through to the error below
  }
  throw new TremoloError('E_BAD_CURSOR');
}

/** Builds a page from `limit + 1` fetched items: the extra one only says whether more exist. */
export function pageOf<T>(fetched: T[], limit: number, positionOf: (item: T) => string | number): { items: T[]; nextCursor?: string } {
  if (fetched.length <= limit) return { items: fetched };
  const items = fetched.slice(0, limit);
  return { items, nextCursor: encodeCursor(positionOf(items[items.length - 1]!)) };
}
