/**
 * Direct messages through the ConversationActor on the Redis driver (issue 19), engine level.
 *
 * 2,000 users in 1,000 one-to-one conversations send messages with WINDOW sends in flight;
 * measures acknowledged messages per second, send -> publish latency (the moment the entry
 * leaves the output gate for delivery; the socket hop is not in this figure), and checks that
 * every acknowledged message was published exactly once. The baseline, in the same run against
 * the same Redis: the naive design, one storage round trip (a one-op conversation-apply, no
 * index update) and one publish per message, with the same number in flight.
 *
 * What this bench does not do (yet): clients in separate processes over real sockets.
 *
 *   npm run bench -- dm [--ops 20000] [--window 2000]
 */
import { benchEngine } from './helpers/engine.ts';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { EngineEvent, EventSink } from '../src/actors/events.ts';
import { loadConfig } from '../src/config.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { directConversationId } from '../src/protocol/dm.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { REDIS_URL, randomPrefix } from '../test/helpers/redis.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({ options: { ops: { type: 'string', default: '20000' }, window: { type: 'string', default: '2000' } } });
const OPS = Number(argv.ops);
const WINDOW = Number(argv.window);
const PAIRS = 1000;

/** Counts published entries by message id, and when each was published. */
class CountingSink implements EventSink {
  readonly seen = new Map<string, number>();
  readonly at = new Map<string, number>();
  publish(event: EngineEvent): void {
    if (event.type !== 'dm:events') return;
    const now = performance.now();
    for (const e of event.events) {
      if (e.type !== 'message') continue;
      this.seen.set(e.message.id, (this.seen.get(e.message.id) ?? 0) + 1);
      this.at.set(e.message.id, now);
    }
  }
}

async function drive(op: (i: number) => Promise<{ id: string; sentAt: number }>): Promise<{ perSec: number; acked: { id: string; sentAt: number }[] }> {
  const acked: { id: string; sentAt: number }[] = [];
  const start = performance.now();
  let next = 0;
  await new Promise<void>((resolve, reject) => {
    let done = 0;
    const launch = () => {
      const i = next++;
      op(i).then((r) => {
        acked.push(r);
        if (++done === OPS) resolve();
        else if (next < OPS) launch();
      }, reject);
    };
    for (let k = 0; k < Math.min(WINDOW, OPS); k++) launch();
  });
  return { perSec: OPS / ((performance.now() - start) / 1000), acked };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'silent' });
  const prefix = randomPrefix('bench-dm');
  const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS, dmLogMax: 1000 }, timeoutMs: 5000 });
  const sink = new CountingSink();
  const ids = new TsidGenerator({ nodeId: 9 });
  const engine = benchEngine(store, config, ids, { sink });
  try {
    const users: string[] = [];
    for (let i = 0; i < PAIRS * 2; i++) users.push((await engine.createUser({ handle: `dmb${Date.now().toString(36)}${i}`, passwordHash: 'x' })).id);
    await Promise.all(users.map((u) => store.conversations.setPolicy(u, 'anyone')));
    const pair = (i: number) => ({ from: users[(i % PAIRS) * 2 + (i & 1)]!, to: users[(i % PAIRS) * 2 + 1 - (i & 1)]! });
    // the conversations exist before timing starts
    await Promise.all(Array.from({ length: PAIRS }, (_, i) => engine.dm.send(pair(i).from, { toUserId: pair(i).to, text: 'hi', idempotencyKey: randomUUID() })));
    sink.seen.clear();

    const actor = await drive(async (i) => {
      const { from, to } = pair(i);
      const sentAt = performance.now();
      const r = await engine.dm.send(from, { conversationId: directConversationId(from, to), text: `m${i}`, idempotencyKey: randomUUID() });
      return { id: r.message.id, sentAt };
    });
    const missing = actor.acked.filter((a) => sink.seen.get(a.id) !== 1).length;
    const latencies = actor.acked.map((a) => (sink.at.get(a.id) ?? a.sentAt) - a.sentAt).sort((x, y) => x - y);

    const naive = await drive(async (i) => {
      const { from, to } = pair(i);
      const id = directConversationId(from, to);
      const sentAt = performance.now();
      const r = await store.conversations.applyOps(id, [{ type: 'send', idempotencyKey: randomUUID(), message: { senderId: from, createdAt: new Date().toISOString(), text: `n${i}` } }], { now: Date.now() });
      sink.publish({ type: 'dm:events', conversationId: id, epoch: r.state.epoch, userIds: [from, to], events: r.events });
      const first = r.results[0];
      return { id: first?.ok && first.type === 'send' ? first.message.id : '', sentAt };
    });

    console.error(`actor: ${actor.perSec.toFixed(0)} msg/s acknowledged; send->publish p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms; ${missing} of ${OPS} acknowledged messages not published exactly once`);
    console.error(`naive (one round trip + one publish per message): ${naive.perSec.toFixed(0)} msg/s`);
    if (missing) process.exitCode = 1;
    report('dm', 'acknowledged messages/s', actor.perSec, naive.perSec);
  } finally {
    await store.close();
    const { Redis } = await import('ioredis');
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 500) await admin.del(...keys.slice(i, i + 500));
    await admin.quit();
  }
}

await main();
