/**
 * The storage contracts of the notifications inbox, blocks and moderation. Both drivers
 * implement them (memory/social.ts, redis/social.ts) and pass the same contract sections.
 */
import type { Notification, Page, PageRequest } from '../protocol/model.ts';
import type { HiddenRecord, InboxEntry, ModerationTarget, Report } from '../protocol/social.ts';

// ---------------------------------------------------------------- inbox

/** One notification to fold into a user's inbox. */
export interface InboxItem {
  /** The id the entry gets if it starts a new one (a TSID). */
  entryId: string;
  type: string;
  target: string;
  /** Who caused it, latest last; actors the recipient blocks are dropped (all of them: no entry). */
  actorIds: string[];
  notification: Notification;
}

export interface InboxLimits {
  /** Entries kept per user; the least recently updated go first. */
  max: number;
  /** An entry takes further notifications of its (type, target) for this long after it started. */
  windowMs: number;
  /** Latest actors kept per entry. */
  actorsKept: number;
}

export interface InboxWrite {
  /** The entries the batch created or updated, as they now are (latest update last). */
  entries: InboxEntry[];
  unread: number;
}

export interface NotificationStore {
  /** Folds a batch into `userId`'s inbox atomically, trimming it to `limits.max`. */
  add(userId: string, items: InboxItem[], opts: { now: number; limits: InboxLimits }): Promise<InboxWrite>;
  /** Entries by latest update, newest first; the cursor is stable (an entry updated since moves up, ahead of it). */
  list(userId: string, page: PageRequest): Promise<Page<InboxEntry> & { unread: number }>;
  unread(userId: string): Promise<number>;
  /** Marks one entry read (false when it is not in the inbox), or every entry with `entryId` absent. */
  markRead(userId: string, entryId?: string): Promise<{ found: boolean; unread: number }>;
}

// ---------------------------------------------------------------- blocks

export interface BlockStore {
  /** `userId` blocks `targetId`. Idempotent; E_BLOCK_LIMIT when `max` are already blocked. */
  block(userId: string, targetId: string, max: number): Promise<{ changed: boolean }>;
  unblock(userId: string, targetId: string): Promise<{ changed: boolean }>;
  /** Whether `userId` blocks `targetId`. */
  blocks(userId: string, targetId: string): Promise<boolean>;
  /** Every id `userId` blocks (bounded by BLOCKS_MAX). */
  allBlocked(userId: string): Promise<string[]>;
  /** Ids `userId` blocks in id order, cursor-paginated. */
  blocked(userId: string, page: PageRequest): Promise<Page<string>>;
}

// ---------------------------------------------------------------- moderation

export interface ModerationStore {
  /** Files a report; a second one by the same reporter on the same target is `duplicate` (the first is returned). E_QUEUE_FULL above `maxOpen`. */
  report(report: Report, maxOpen: number): Promise<{ report: Report; duplicate: boolean }>;
  /** Open reports, oldest first. */
  openReports(page: PageRequest): Promise<Page<Report>>;
  /** Closes every open report on `target`; resolves with how many. */
  resolveReports(target: ModerationTarget): Promise<number>;
  /** Hides a target; false when it was already hidden (the first record stays). */
  hide(target: ModerationTarget, record: HiddenRecord): Promise<boolean>;
  /** False when it was not hidden. */
  restore(target: ModerationTarget): Promise<boolean>;
  /** Who wrote a comment (`<videoId>-<tsid>`), to tell them of an outcome; null when there is no such comment. */
  commentAuthor(commentId: string): Promise<string | null>;
  /** The hidden record of each target (same order), null when visible. */
  hidden(targets: readonly ModerationTarget[]): Promise<(HiddenRecord | null)[]>;
}
