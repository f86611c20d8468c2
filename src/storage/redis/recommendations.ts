/**
 * Recommendation state on Redis. A subject's keys (interests, seen filter, engagements,
 * co-engaged videos) share the user hash tag, so a signal is one script on one slot; a video's
 * engagers live in the video's slot and the exploration pool in its own, each written as its
 * own idempotent step. Decay and trimming follow the memory driver exactly (rec-decay.lua).
 */
import { decayed } from '../../domain/ranking.ts';
import type { RecommendationLimits, RecommendationStore, SignalUpdate, Subject, SubjectSignal } from '../store.ts';
import type { RedisContext } from './context.ts';
import { io } from './scripts.ts';

/** The RecommendationStore of the Redis driver. */
export class RedisRecommendations implements RecommendationStore {
  constructor(private readonly ctx: RedisContext) {}

  async recordSignal(subject: Subject, update: SignalUpdate, limits: RecommendationLimits): Promise<void> {
    const { keys, args } = this.signalCall(subject, update, limits);
    await this.ctx.scripts.run('rec-signal', keys, args);
  }

  async recordSignals(signals: readonly SubjectSignal[], limits: RecommendationLimits): Promise<void> {
    // one pipeline (or, on a Cluster, one batch per node connection): each subject's script
    // stays on its own slot, and one connection runs them in the order given
    await this.ctx.scripts.runMany(
      'rec-signal',
      signals.map((s) => this.signalCall(s.subject, s.update, limits)),
    );
  }

  private signalCall(subject: Subject, update: SignalUpdate, limits: RecommendationLimits) {
    const k = this.ctx.keys.recommendations(subject);
    const deltas: (string | number)[] = [];
    for (const [feature, delta] of update.deltas) deltas.push(feature, delta);
    return {
      keys: [k.interests, k.seen, k.engaged, k.similar],
      args: [
        update.now,
        limits.interestHalfLifeMs,
        limits.interestsMax,
        limits.seenMax,
        limits.seenTtlMs,
        limits.engagedMax,
        limits.stateTtlMs,
        update.engaged ? 1 : 0,
        update.videoId,
        ...deltas,
      ],
    };
  }

  async interests(subject: Subject, now: number, limits: RecommendationLimits): Promise<Map<string, number>> {
    const { client, keys } = this.ctx;
    const raw = await io(() => client.hgetall(keys.recommendations(subject).interests));
    const out = Object.entries(raw).map(([f, stored]) => {
      const sep = stored.indexOf(':');
      return [f, decayed(Number(stored.slice(0, sep)), Number(stored.slice(sep + 1)), now, limits.interestHalfLifeMs)] as const;
    });
    out.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return new Map(out);
  }

  async markSeen(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<void> {
    if (videoIds.length === 0) return;
    const k = this.ctx.keys.recommendations(subject);
    await this.ctx.scripts.run('rec-seen', [k.seen, k.interests, k.engaged, k.similar], [now, limits.seenMax, limits.seenTtlMs, limits.stateTtlMs, ...videoIds]);
  }

  async seen(subject: Subject, videoIds: readonly string[], now: number, limits: RecommendationLimits): Promise<boolean[]> {
    if (videoIds.length === 0) return [];
    const { client, keys } = this.ctx;
    const scores = await io(() => client.zmscore(keys.recommendations(subject).seen, ...videoIds));
    return scores.map((s) => s !== null && now - Number(s) < limits.seenTtlMs);
  }

  async engaged(subject: Subject, limit: number): Promise<string[]> {
    if (!(limit > 0)) return [];
    const { client, keys } = this.ctx;
    return io(() => client.lrange(keys.recommendations(subject).engaged, 0, Math.ceil(limit) - 1));
  }

  async engagers(videoId: string, limit: number): Promise<Subject[]> {
    if (!(limit > 0)) return [];
    const { client, keys } = this.ctx;
    return io(() => client.lrange(keys.engagers(videoId), 0, Math.ceil(limit) - 1));
  }

  async addEngager(videoId: string, subject: Subject, limits: RecommendationLimits): Promise<void> {
    await this.ctx.scripts.run('rec-engager', [this.ctx.keys.engagers(videoId)], [subject, limits.engagedMax]);
  }

  async addSimilar(subject: Subject, videoIds: readonly string[], _now: number, limits: RecommendationLimits): Promise<void> {
    if (videoIds.length === 0) return;
    const k = this.ctx.keys.recommendations(subject);
    await this.ctx.scripts.run('rec-similar', [k.similar], [limits.similarMax, limits.stateTtlMs, ...videoIds]);
  }

  async engagedOf(subjects: readonly Subject[], limit: number): Promise<string[][]> {
    if (!(limit > 0)) return subjects.map(() => []);
    const { client, keys } = this.ctx;
    // one key per subject, each in its own slot: issued together, they share one round trip
    return io(() => Promise.all(subjects.map((s) => client.lrange(keys.recommendations(s).engaged, 0, Math.ceil(limit) - 1))));
  }

  async engagersOf(videoIds: readonly string[], limit: number): Promise<Subject[][]> {
    if (!(limit > 0)) return videoIds.map(() => []);
    const { client, keys } = this.ctx;
    return io(() => Promise.all(videoIds.map((id) => client.lrange(keys.engagers(id), 0, Math.ceil(limit) - 1))));
  }

  async addSimilarMany(entries: readonly { subject: Subject; videoIds: readonly string[] }[], _now: number, limits: RecommendationLimits): Promise<void> {
    const calls = entries
      .filter((e) => e.videoIds.length > 0)
      .map((e) => ({ keys: [this.ctx.keys.recommendations(e.subject).similar], args: [limits.similarMax, limits.stateTtlMs, ...e.videoIds] }));
    await this.ctx.scripts.runMany('rec-similar', calls);
  }

  async addEngagers(entries: readonly { videoId: string; subject: Subject }[], limits: RecommendationLimits): Promise<void> {
    await this.ctx.scripts.runMany(
      'rec-engager',
      entries.map((e) => ({ keys: [this.ctx.keys.engagers(e.videoId)], args: [e.subject, limits.engagedMax] })),
    );
  }

  async similar(subject: Subject, limit: number): Promise<string[]> {
    if (!(limit > 0)) return [];
    const { client, keys } = this.ctx;
    // ZREVRANGE orders equal scores by member, descending: the memory driver's order
    return io(() => client.zrevrange(keys.recommendations(subject).similar, 0, Math.ceil(limit) - 1));
  }

  async addFresh(videoId: string, limits: RecommendationLimits): Promise<void> {
    const { keys, scripts } = this.ctx;
    await scripts.run('rec-fresh-add', [keys.freshPool(), keys.freshIds()], [videoId, limits.freshPoolMax]);
  }

  async countImpressions(videoIds: readonly string[], maxImpressions: number): Promise<void> {
    if (videoIds.length === 0) return;
    const { keys, scripts } = this.ctx;
    await scripts.run('rec-impressions', [keys.freshPool(), keys.freshIds()], [maxImpressions, ...videoIds]);
  }

  async fresh(limit: number): Promise<string[]> {
    if (!(limit > 0)) return [];
    const { client, keys } = this.ctx;
    // ZRANGE orders equal scores by member, ascending: the memory driver's order
    return io(() => client.zrange(keys.freshPool(), '0', String(Math.ceil(limit) - 1)));
  }

  async forgetVideo(videoId: string): Promise<void> {
    const { client, keys } = this.ctx;
    await io(() => client.zrem(keys.freshPool(), videoId));
    await io(() => client.zrem(keys.freshIds(), videoId));
    await io(() => client.del(keys.engagers(videoId)));
  }
}
