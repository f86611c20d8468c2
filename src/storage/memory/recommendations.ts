/**
 * Recommendation state in memory: one row per subject (interest weights, seen filter,
 * engagements, co-engaged videos), each video's recent engagers, and the exploration pool.
 * Each method runs to completion synchronously, so a signal is atomic as its script is on Redis;
 * the arithmetic (decay, trimming order) is the Redis scripts' own, so both drivers agree.
 */
import { decayed } from '../../domain/ranking.ts';
import type { RecommendationLimits, RecommendationStore, SignalUpdate, Subject, SubjectSignal } from '../store.ts';
import type { MemoryTables, SubjectRow } from './tables.ts';

/** The RecommendationStore of the memory driver. */
export class MemoryRecommendations implements RecommendationStore {
  constructor(private readonly tables: MemoryTables) {}

  async recordSignal(subject: Subject, update: SignalUpdate, limits: RecommendationLimits): Promise<void> {
    const row = this.touch(subject, update.now, limits);
    const { now } = update;
    for (const [feature, delta] of update.deltas) {
      const cur = row.interests.get(feature);
      const w = (cur ? decayed(cur.w, cur.t, now, limits.interestHalfLifeMs) : 0) + delta;
      row.interests.set(feature, { w, t: now });
    }
    if (row.interests.size > limits.interestsMax) {
      const weakest = [...row.interests]
        .map(([f, { w, t }]) => ({ f, a: Math.abs(decayed(w, t, now, limits.interestHalfLifeMs)) }))
        .sort((x, y) => x.a - y.a || (x.f < y.f ? -1 : 1));
      for (const { f } of weakest.slice(0, row.interests.size - limits.interestsMax)) row.interests.delete(f);
    }
    addSeen(row, [update.videoId], now, limits);
    if (update.engaged) {
      row.engaged = [update.videoId, ...row.engaged.filter((id) => id !== update.videoId)].slice(0, limits.engagedMax);
    }
  }

  async interests(subject: Subject, now: number, limits: RecommendationLimits): Promise<Map<string, number>> {
    const row = this.row(subject, now, limits);
    if (!row) return new Map();
    const out = [...row.interests].map(([f, { w, t }]) => [f, decayed(w, t, now, limits.interestHalfLifeMs)] as const);
    out.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return new Map(out);
  }

  async markSeen(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<void> {
    if (videoIds.length === 0) return;
    addSeen(this.touch(subject, now, limits), videoIds, now, limits);
  }

  async seen(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<boolean[]> {
    const row = this.row(subject, now, limits);
    return videoIds.map((id) => {
      const at = row?.seen.get(id);
      return at !== undefined && now - at < limits.seenTtlMs;
    });
  }

  async engaged(subject: Subject, limit: number): Promise<string[]> {
    return (this.tables.subjects.get(subject)?.engaged ?? []).slice(0, Math.max(0, limit));
  }

  async engagers(videoId: string, limit: number): Promise<Subject[]> {
    return (this.tables.engagers.get(videoId) ?? []).slice(0, Math.max(0, limit));
  }

  async addEngager(videoId: string, subject: Subject, limits: RecommendationLimits): Promise<void> {
    const list = this.tables.engagers.get(videoId) ?? [];
    this.tables.engagers.set(videoId, [subject, ...list.filter((s) => s !== subject)].slice(0, limits.engagedMax));
  }

  async addSimilar(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<void> {
    if (videoIds.length === 0) return;
    const row = this.touch(subject, now, limits);
    for (const id of videoIds) row.similar.set(id, (row.similar.get(id) ?? 0) + 1);
    if (row.similar.size > limits.similarMax) {
      // the weakest go; among equals the lower id (Redis ZREMRANGEBYRANK's order)
      const order = [...row.similar].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
      for (const [id] of order.slice(0, row.similar.size - limits.similarMax)) row.similar.delete(id);
    }
  }

  async recordSignals(signals: readonly SubjectSignal[], limits: RecommendationLimits): Promise<void> {
    for (const { subject, update } of signals) await this.recordSignal(subject, update, limits);
  }

  async engagedOf(subjects: readonly Subject[], limit: number): Promise<string[][]> {
    return Promise.all(subjects.map((s) => this.engaged(s, limit)));
  }

  async engagersOf(videoIds: readonly string[], limit: number): Promise<Subject[][]> {
    return Promise.all(videoIds.map((id) => this.engagers(id, limit)));
  }

  async addSimilarMany(entries: readonly { subject: Subject; videoIds: readonly string[] }[], now: number, limits: RecommendationLimits): Promise<void> {
    for (const e of entries) await this.addSimilar(e.subject, e.videoIds, now, limits);
  }

  async addEngagers(entries: readonly { videoId: string; subject: Subject }[], limits: RecommendationLimits): Promise<void> {
    for (const e of entries) await this.addEngager(e.videoId, e.subject, limits);
  }

  async similar(subject: Subject, limit: number): Promise<string[]> {
    const row = this.tables.subjects.get(subject);
    if (!row || limit <= 0) return [];
    return [...row.similar]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1))
      .slice(0, limit)
      .map(([id]) => id);
  }

  async addFresh(videoId: string, limits: RecommendationLimits): Promise<void> {
    const pool = this.tables.fresh;
    if (!pool.has(videoId)) pool.set(videoId, 0);
    if (pool.size > limits.freshPoolMax) {
      const oldest = [...pool.keys()].sort().slice(0, pool.size - limits.freshPoolMax);
      for (const id of oldest) pool.delete(id);
    }
  }

  async countImpressions(videoIds: readonly string[], maxImpressions: number): Promise<void> {
    const pool = this.tables.fresh;
    for (const id of videoIds) {
      const n = pool.get(id);
      if (n === undefined) continue;
      if (n + 1 >= maxImpressions) pool.delete(id);
      else pool.set(id, n + 1);
    }
  }

  async fresh(limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    // read on every page: bucket by impressions (small integers) and sort only the buckets
    // that fill the answer, rather than the whole pool
    const buckets = new Map<number, string[]>();
    for (const [id, n] of this.tables.fresh) {
      const bucket = buckets.get(n);
      if (bucket) bucket.push(id);
      else buckets.set(n, [id]);
    }
    const out: string[] = [];
    for (const n of [...buckets.keys()].sort((a, b) => a - b)) {
      out.push(...buckets.get(n)!.sort());
      if (out.length >= limit) break;
    }
    return out.slice(0, limit);
  }

  async forgetVideo(videoId: string): Promise<void> {
    this.tables.fresh.delete(videoId);
    this.tables.engagers.delete(videoId);
  }

  /** The subject's live row, or undefined (none, or expired). */
  private row(subject: Subject, now: number, limits: RecommendationLimits): SubjectRow | undefined {
    const row = this.tables.subjects.get(subject);
    if (row && now - row.touchedAt >= limits.stateTtlMs) {
      this.tables.subjects.delete(subject);
      return undefined;
    }
    return row;
  }

  /** The subject's row for a write, made most recently active; the least active go past subjectsMax. */
  private touch(subject: Subject, now: number, limits: RecommendationLimits): SubjectRow {
    const subjects = this.tables.subjects;
    const row = this.row(subject, now, limits) ?? { interests: new Map(), seen: new Map(), engaged: [], similar: new Map(), touchedAt: now };
    subjects.delete(subject);
    row.touchedAt = now;
    subjects.set(subject, row);
    for (const key of subjects.keys()) {
      if (subjects.size <= limits.subjectsMax) break;
      subjects.delete(key);
    }
    return row;
  }
}

/** Adds ids to a seen filter, then drops what expired and the oldest past seenMax. */
function addSeen(row: SubjectRow, videoIds: readonly string[], now: number, limits: RecommendationLimits): void {
  for (const id of videoIds) {
    row.seen.delete(id);
    row.seen.set(id, now);
  }
  for (const [id, at] of row.seen) {
    if (now - at < limits.seenTtlMs && row.seen.size <= limits.seenMax) break;
    row.seen.delete(id);
  }
}
