/**
 * Pages of videos as JSON, built from per-video JSON kept between requests.
 *
 * A feed page is about twenty videos, and the same hot videos appear in many readers' pages.
 * The engine hands out one frozen Video object per (stored state, how the reader sees it),
 * and a new one when the state changes; a kept following-feed page is likewise one frozen
 * object until something in it changes. So the JSON of each can be kept in a WeakMap keyed by
 * the object: a repeat page costs a lookup, a new page a join of videos already encoded,
 * instead of a schema-driven serialization of every field on every request. The JSON is kept
 * UTF-8 encoded, so nothing is encoded or measured per request either.
 *
 * Signed media URLs expire, so JSON holding any is kept for at most `maxAgeMs`: every URL a
 * client receives has at least MEDIA_URL_TTL_S minus that left.
 */
import type { FastifyReply } from 'fastify';
import fastJson, { type Schema } from 'fast-json-stringify';
import type { VideoPage } from '../../actors/engine.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Video } from '../../protocol/model.ts';
import { schemas } from '../../protocol/schemas.ts';

export interface VideoJsonOptions {
  /** Stored media paths -> signed URLs (the media pipeline's presentMedia). */
  present: (video: Video) => Video;
  /** How long JSON with signed URLs in it may be reused. */
  maxAgeMs: number;
  clock: Pick<Clock, 'now'>;
}

interface Kept {
  json: Buffer;
  /** Infinity when nothing in it expires (no signed URLs). */
  staleAt: number;
}

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');

export class VideoJson {
  private readonly videos = new WeakMap<Video, Kept>();
  private readonly pages = new WeakMap<VideoPage, Kept>();
  // the route's response schema, compiled once: the bytes are exactly what fastify would send
  // (the schemas are `as const` for fastify's type inference; fast-json-stringify wants mutable arrays)
  private readonly stringify = fastJson(schemas.video as unknown as Schema);

  constructor(private readonly opts: VideoJsonOptions) {}

  /** Answers with the page, marked `X-Degraded: 1` when it came from cache while storage was down. */
  send(reply: FastifyReply, page: VideoPage): FastifyReply {
    if (page.degraded) reply.header('x-degraded', '1');
    return reply.type('application/json; charset=utf-8').send(this.page(page));
  }

  /** `{"items":[...],"nextCursor":...,"degraded":true}` as the `pageOf(video)` schema describes it. */
  page(page: VideoPage): Buffer {
    const now = this.opts.clock.now();
    const kept = this.pages.get(page);
    if (kept && now < kept.staleAt) return kept.json;
    const parts: Buffer[] = [OPEN];
    let staleAt = Infinity;
    // a For You page says why each video is shown: `reason` goes last in each video's object
    const reasons = (page as { reasons?: readonly string[] }).reasons;
    page.items.forEach((video, i) => {
      const one = this.video(video, now);
      if (i > 0) parts.push(COMMA);
      const reason = reasons?.[i];
      if (reason === undefined) parts.push(one.json);
      else parts.push(one.json.subarray(0, one.json.length - 1), Buffer.from(`,"reason":${JSON.stringify(reason)}}`));
      staleAt = Math.min(staleAt, one.staleAt);
    });
    let tail = ']';
    if (page.nextCursor !== undefined) tail += `,"nextCursor":${JSON.stringify(page.nextCursor)}`;
    if (page.degraded) tail += ',"degraded":true';
    parts.push(Buffer.from(`${tail}}`));
    const json = keepable(parts);
    this.pages.set(page, { json, staleAt });
    return json;
  }

  private video(video: Video, now: number): Kept {
    const kept = this.videos.get(video);
    if (kept && now < kept.staleAt) return kept;
    const presented = this.opts.present(video);
    const fresh = { json: keepable([Buffer.from(this.stringify(presented))]), staleAt: presented === video ? Infinity : now + this.opts.maxAgeMs };
    this.videos.set(video, fresh);
    return fresh;
  }
}

/** The parts joined in an exact, unpooled allocation: a kept slice of Buffer's shared 8 KB pool would pin all of it. */
function keepable(parts: readonly Buffer[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const part of parts) at += part.copy(out, at);
  return out;
}
