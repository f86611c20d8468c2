/**
 * Feed rules that do not depend on storage.
 *
 * Hot score (time decay without rescoring, as in Reddit's "hot"):
 *   engagement = likes + 2 * comments + 0.1 * views
 *   score      = log10(max(engagement, 1)) + (createdAtSeconds - 1704067200) / HOT_DECAY_SECONDS
 * Every HOT_DECAY_SECONDS (12.5 h) of newness is worth ten times the engagement, so a
 * new video with little engagement overtakes an old one with a lot, and a video's score
 * changes only when its counters change: scores never need a periodic recompute.
 */
import type { Counters } from '../protocol/model.ts';

export const HOT_DECAY_SECONDS = 45_000;
const HOT_EPOCH_SECONDS = 1_704_067_200; // 2024-01-01

export function hotScore(counters: Pick<Counters, 'likes' | 'comments' | 'views'>, createdAtMs: number): number {
  const engagement = counters.likes + 2 * counters.comments + 0.1 * counters.views;
  return Math.log10(Math.max(engagement, 1)) + (createdAtMs / 1000 - HOT_EPOCH_SECONDS) / HOT_DECAY_SECONDS;
}

/** Whether an author with this many followers pushes posts to inboxes (else followers pull). */
export function pushesToInboxes(followerCount: number, pushMaxFollowers: number): boolean {
  return followerCount <= pushMaxFollowers;
}
