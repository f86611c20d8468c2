/**
 * What actors and services publish once a change is durable. Transport implements
 * EventSink (socket rooms); tests use a recorder. Actors never see sockets.
 */
import type { Notification, VideoEvent } from '../protocol/model.ts';
import type { JobStage } from '../domain/jobs.ts';

export type EngineEvent =
  /** Events appended to a video's log by one turn, in offset order. */
  | { type: 'video'; videoId: string; epoch: string; events: VideoEvent[] }
  | { type: 'video:deleted'; videoId: string }
  | { type: 'notification'; userId: string; notification: Notification }
  /** A followed author published; delivered to each follower's own room. */
  | { type: 'feed:new'; userIds: string[]; videoId: string; authorId: string }
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
