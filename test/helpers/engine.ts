/**
 * Builds an Engine in-process on a given Store, without HTTP or sockets, for tests that
 * exercise the actor system and storage directly.
 */
import { Engine } from '../../src/actors/engine.ts';
import { RecordingSink } from '../../src/actors/events.ts';
import { systemClock, type Clock } from '../../src/domain/clock.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { LocalInvalidationBus, type InvalidationBus } from '../../src/storage/cache/invalidation.ts';
import type { Metrics } from '../../src/metrics.ts';
import type { RecommendationOptions } from '../../src/actors/recommendations.ts';
import type { Store } from '../../src/storage/store.ts';

/** For You settings as the defaults set them (config.ts), for tests to adjust. */
export function testRecommendationOptions(overrides: Partial<RecommendationOptions> = {}): RecommendationOptions {
  return {
    limits: {
      interestsMax: 200,
      interestHalfLifeMs: 7 * 24 * 3600_000,
      seenMax: 5000,
      seenTtlMs: 7 * 24 * 3600_000,
      engagedMax: 50,
      similarMax: 300,
      stateTtlMs: 30 * 24 * 3600_000,
      subjectsMax: 100_000,
      freshPoolMax: 2000,
    },
    perSource: 100,
    sourceDeadlineMs: 5000,
    interestSources: 4,
    maxPerAuthor: 2,
    maxPerTag: 4,
    exploreShare: 0.1,
    freshMaxImpressions: 200,
    seed: 1,
    ...overrides,
  };
}

export interface TestEngine {
  engine: Engine;
  sink: RecordingSink;
  /** Background failures (fan-out, hot scores) the engine reported. */
  errors: unknown[];
}

export function testEngine(
  store: Store,
  opts: {
    nodeId?: number;
    clock?: Clock;
    invalidation?: InvalidationBus;
    mailboxLimit?: number;
    readStaleMs?: number;
    recommendations?: RecommendationOptions;
    blocked?: (subject: string, authorIds: readonly string[]) => Promise<boolean[]>;
    metrics?: Metrics;
    onWarning?: (message: string, fields: Record<string, unknown>) => void;
  } = {},
): TestEngine {
  const sink = new RecordingSink();
  const errors: unknown[] = [];
  const clock = opts.clock ?? systemClock;
  const engine = new Engine({
    store,
    sink,
    clock,
    ids: new TsidGenerator({ nodeId: opts.nodeId ?? 1, clock }),
    invalidation: opts.invalidation ?? new LocalInvalidationBus(),
    onError: (err) => errors.push(err),
    ...(opts.blocked ? { blocked: opts.blocked } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    limits: {
      titleMaxChars: 150,
      descriptionMaxChars: 2000,
      commentMaxChars: 500,
      readStaleMs: opts.readStaleMs ?? 1000,
      cache: { max: 1000, ttlMs: 5000, negativeTtlMs: 1000 },
      actors: { idleMs: 60_000, maxActive: 10_000, maxBatch: 512, mailboxLimit: opts.mailboxLimit ?? 10_000 },
      feed: { pushMaxFollowers: 10_000, inboxMax: 1000, fanoutBatch: 500, maxQueued: 10_000 },
      recommendations: opts.recommendations ?? testRecommendationOptions(),
    },
  });
  return { engine, sink, errors };
}
