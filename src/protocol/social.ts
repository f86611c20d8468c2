/**
 * Wire types of the notifications inbox, blocks and moderation (reports, hidden content),
 * shared by the server, the SDK and the tests. Optional fields are absent, never null.
 */
import type { Notification } from './model.ts';

/**
 * One inbox entry: every notification of one `type` about one `target` (a video, a comment,
 * the recipient for follows) within INBOX_WINDOW is folded into one entry, "ana and 14 others
 * liked your video": the latest actors first, and how many times it happened.
 */
export interface InboxEntry {
  id: string;
  /** The notification type, e.g. `video:liked`. */
  type: string;
  /** What it is about: a video id, a comment id, or the recipient's own id. */
  target: string;
  /** The latest actors first (at most INBOX_ACTORS_KEPT). */
  actorIds: string[];
  /** How many notifications were folded into the entry. */
  count: number;
  read: boolean;
  createdAt: string;
  updatedAt: string;
  /** The latest notification folded in, as it was published. */
  latest: Notification;
}

export interface InboxPage {
  items: InboxEntry[];
  nextCursor?: string;
  unread: number;
}

/** What a report or a moderator's action names. */
export type ModerationTarget = { type: 'video'; id: string } | { type: 'comment'; id: string } | { type: 'user'; id: string };

export interface Report {
  id: string;
  reporterId: string;
  target: ModerationTarget;
  reason: string;
  createdAt: string;
}

/** Why a video or a comment is hidden, and by whom. */
export interface HiddenRecord {
  reason: string;
  by: string;
  at: string;
}

/** A `@handle` in a text, resolved when the text was written: a handle changed later still names the same user. */
export interface Mention {
  userId: string;
  /** Offsets of `@handle` in the text, in UTF-16 code units (JavaScript string indices). */
  start: number;
  end: number;
}

/** `video:<id>` etc.: how a target is keyed in storage. */
export function targetKey(target: ModerationTarget): string {
  return `${target.type}:${target.id}`;
}
