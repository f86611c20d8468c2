/**
 * What changed, as typed values: each write that makes cached copies stale names its change
 * here once, and every copy (read caches, feed pages, actor state) is dropped in this process
 * and, through the InvalidationBus, in every other one.
 *
 * On the bus a change travels as a short string (`video:<id>`, `user:<id>`,
 * `feeds:<id>,<id>`); this module is the only place that writes or reads that form, and a
 * message it cannot read is ignored.
 */
import type { InvalidationBus } from '../storage/cache/invalidation.ts';

export type Change =
  /** A video's counters, tags or existence: its cached state and every page showing it are stale. */
  | { kind: 'video'; videoId: string }
  /** A user's profile, follows or blocks: their cached profile and feed pages are stale. */
  | { kind: 'user'; userId: string }
  /** Posts were pushed into these users' inboxes: their feed pages are stale. */
  | { kind: 'inboxes'; userIds: readonly string[] };

/**
 * Where a change was made: `here` (this process, outside the actors), `actor` (committed by
 * this process's own actor, whose state is therefore current) or `remote` (another process).
 */
export type ChangeSource = 'here' | 'actor' | 'remote';

/** The bus form of a change. */
export function changeKey(change: Change): string {
  switch (change.kind) {
    case 'video':
      return `video:${change.videoId}`;
    case 'user':
      return `user:${change.userId}`;
    case 'inboxes':
      return `feeds:${change.userIds.join(',')}`;
  }
}

/** A change from its bus form; undefined for anything else. */
export function parseChange(key: string): Change | undefined {
  const sep = key.indexOf(':');
  const id = key.slice(sep + 1);
  if (sep < 0 || id === '') return undefined;
  switch (key.slice(0, sep)) {
    case 'video':
      return { kind: 'video', videoId: id };
    case 'user':
      return { kind: 'user', userId: id };
    case 'feeds': {
      const userIds = id.split(',').filter((u) => u !== '');
      return userIds.length ? { kind: 'inboxes', userIds } : undefined;
    }
    default:
      return undefined;
  }
}

export class Invalidations {
  /**
   * @param drop Drops this process's copies of what a change made stale; called for changes
   *   made here and for those other processes announce.
   */
  constructor(
    private readonly bus: InvalidationBus,
    private readonly drop: (change: Change, source: ChangeSource) => void,
  ) {
    bus.onRemote((key) => {
      const change = parseChange(key);
      if (change) drop(change, 'remote');
    });
  }

  /** A change made in this process: drops the copies here and tells the other processes. */
  changed(change: Change, source: Exclude<ChangeSource, 'remote'> = 'here'): void {
    this.drop(change, source);
    this.bus.publish(changeKey(change));
  }

  /** Stops listening (shutdown). */
  close(): Promise<void> {
    return this.bus.close();
  }
}
