/**
 * SubscribeInteractions: the interaction event stream (the analytics work) for backend
 * consumers, in batches, resumable from an opaque position. The stream itself lives below
 * transport; this module only pages through it for one caller and waits (on the Clock) when
 * it has caught up.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Clock } from '../../domain/clock.ts';
import { TremoloError } from '../../protocol/errors.ts';
import type { InteractionEvent } from '../../protocol/interactions.ts';
import type { SubscribeInteractionsRequest } from './messages.ts';

/** The behaviour log's reading side, as the Engine exposes it (`engine.interactions`). */
export interface InteractionSource {
  read(position: string | null, limit: number): Promise<{ events: readonly InteractionEvent[]; position: string }>;
}

export interface InteractionBatchMessage {
  events: { id: string; type: string; userId: string; videoId: string; targetId: string; at: string; attributesJson: string }[];
  position: string;
}

const DEFAULT_BATCH = 100;
const MAX_BATCH = 1000;
const MAX_POSITION_CHARS = 256;
const NAMED = new Set(['id', 'type', 'userId', 'videoId', 'targetId', 'at']);

/** One event as the proto's InteractionEvent: the common fields, and the rest as JSON. */
export function interactionMessage(event: InteractionEvent): InteractionBatchMessage['events'][number] {
  const e: Record<string, unknown> = { ...event };
  const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
  const rest = Object.fromEntries(Object.entries(e).filter(([k]) => !NAMED.has(k)));
  return {
    id: text(e['id']),
    type: text(e['type']),
    userId: text(e['userId']),
    videoId: text(e['videoId']),
    targetId: text(e['targetId']),
    at: text(e['at']),
    attributesJson: JSON.stringify(rest),
  };
}

/**
 * Pages through the stream from the request's position until the caller cancels: a batch as
 * soon as there are events, else a read again after `idleMs`. Each batch carries the position
 * to resume after it. A slow reader is not buffered without limit (reads wait for 'drain').
 */
export async function serveInteractions(
  call: ServerWritableStream<SubscribeInteractionsRequest, InteractionBatchMessage>,
  deps: { source: InteractionSource; clock: Clock; idleMs: number },
): Promise<void> {
  const req = call.request;
  const size = req.batchSize ?? 0;
  if (!Number.isInteger(size) || size < 0 || size > MAX_BATCH) {
    throw new TremoloError('E_VALIDATION', `batch_size must be 0 to ${MAX_BATCH}`, { details: { field: 'batch_size' } });
  }
  const limit = size || DEFAULT_BATCH;
  let position: string | null = req.position ? req.position : null;
  if (position !== null && position.length > MAX_POSITION_CHARS) {
    throw new TremoloError('E_VALIDATION', 'position is not one this server gave out', { details: { field: 'position' } });
  }
  let ended = false;
  let wake: (() => void) | undefined;
  const end = () => {
    ended = true;
    wake?.();
  };
  call.on('cancelled', end);
  call.on('close', end);
  call.on('error', end);
  try {
    while (!ended) {
      const page = await deps.source.read(position, limit);
      if (ended) return;
      if (page.events.length) {
        const ok = call.write({ events: page.events.map(interactionMessage), position: page.position });
        position = page.position;
        if (ended) return;
        if (!ok) {
          await waitFor((done) => {
            call.once('drain', done);
            return () => call.off('drain', done);
          }, (r) => (wake = r));
        }
        continue;
      }
      position = page.position;
      if (ended) return;
      await waitFor((done) => {
        const timer = deps.clock.setTimeout(done, deps.idleMs);
        return () => deps.clock.clearTimeout(timer);
      }, (r) => (wake = r));
    }
  } finally {
    call.off('cancelled', end);
    call.off('close', end);
    call.off('error', end);
  }
}

/** Waits until `arm`'s callback fires or the stream ends (through the resolver handed to `expose`); `arm` returns its undoing. */
function waitFor(arm: (done: () => void) => () => void, expose: (resolve: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    let disarm = () => {};
    const done = () => {
      disarm();
      resolve();
    };
    expose(done);
    disarm = arm(done);
  });
}
