/**
 * What every aggregate of the Redis driver works with (users.ts, videos.ts, feeds.ts,
 * jobs.ts), and the small reply helpers they share.
 */
import type { InteractionLimits } from '../interactions.ts';
import type { StoreLimits } from '../store.ts';
import type { InteractionStreams } from './interactions.ts';
import type { RedisKeys } from './keys.ts';
import type { RedisClient, Scripts } from './scripts.ts';

export interface RedisContext {
  client: RedisClient;
  keys: RedisKeys;
  scripts: Scripts;
  limits: StoreLimits;
  /** The behaviour log: its bound, its streams, and the ids of its events. */
  interactions: InteractionLimits;
  streams: InteractionStreams;
  eventId: () => string;
}

export const copy = <T>(value: T): T => structuredClone(value);

/** A lex-range bound strictly after/before `id`, or the open end. */
export const exclusive = (id: string | undefined, open: '-' | '+'): string => (id === undefined ? open : `(${id}`);

/** cjson encodes an empty Lua table as `{}`; arrays from scripts may therefore be objects. */
export const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
