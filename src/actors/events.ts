/**
 * What actors and services publish once a change is durable. Transport implements
 * EventSink (socket rooms); tests use a recorder. Actors never see sockets.
 */
import type { DmEvent, DmReceiptPayload, DmTypingPayload } from '../protocol/dm.ts';
import type { Notification, VideoEvent } from '../protocol/model.ts';
import type { JobStage } from '../domain/jobs.ts';
import type { InboxEntry } from '../protocol/social.ts';

export type EngineEvent =
  /** Events appended to a video's log by one turn, in offset order. */
  | { type: 'video'; videoId: string; epoch: string; events: VideoEvent[] }
  | { type: 'video:deleted'; videoId: string }
  | { type: 'notification'; userId: string; notification: Notification }
  /** A followed author published; delivered to each follower's own room. */
  | { type: 'feed:new'; userIds: string[]; videoId: string; authorId: string }
  // ---- direct messages: each goes to every device of `userIds`
  /** Entries appended to a conversation's log by one turn, in seq order. */
  | { type: 'dm:events'; conversationId: string; epoch: string; userIds: string[]; events: DmEvent[] }
  | { type: 'dm:receipt'; userIds: string[]; receipt: DmReceiptPayload }
  /** Ephemeral: never stored; `userIds` are the other members. */
  | { type: 'dm:typing'; userIds: string[]; typing: DmTypingPayload }
  /** Inbox entries a turn created or updated (durable), and the user's unread count after it. */
  | { type: 'inbox'; userId: string; entries: InboxEntry[]; unread: number }
  /** The user's unread count changed without a new entry (marked read). */
  | { type: 'inbox:unread'; userId: string; unread: number }
  /** A moderator hid a video or a comment: watchers drop it. */
  | { type: 'content:hidden'; videoId: string; commentId?: string }
  | { type: 'job:progress'; userId: string; jobId: string; stage: JobStage; percent: number; videoId?: string; error?: { code: string; message: string } };

export interface EventSink {
  publish(event: EngineEvent): void;
}

/** Keeps every event; for tests and for composing sinks. */
export class RecordingSink implements EventSink {
  readonly events: EngineEvent[] = [];
  publish(event: EngineEvent): void {
    this.events.push(event);
  }
}

/** Forwards to several sinks; later sinks are added by transport when it starts. */
export class FanoutSink implements EventSink {
  private readonly sinks: EventSink[] = [];
  add(sink: EventSink): void {
    this.sinks.push(sink);
  }
  publish(event: EngineEvent): void {
    for (const sink of this.sinks) sink.publish(event);
  }
}
