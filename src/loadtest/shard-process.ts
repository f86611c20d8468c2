/**
 * Entry of a forked shard process (`--processes P`): receives its plan from the
 * coordinator, drives its users, sends one-second intervals and, at the end, its
 * ledger of acknowledged writes. Talks to the coordinator only over the IPC channel.
 */
import type { LedgerSnapshot } from './ledger.ts';
import { Shard, type ShardPlan } from './shard.ts';
import type { StatsInterval } from './stats.ts';

export type ToShard = { type: 'start'; plan: ShardPlan } | { type: 'stop' };
export type FromShard =
  | { type: 'ready' }
  | { type: 'interval'; interval: StatsInterval }
  | { type: 'done'; interval: StatsInterval; ledger: LedgerSnapshot }
  | { type: 'error'; message: string };

const send = (m: FromShard) => new Promise<void>((resolve) => process.send?.(m, undefined, {}, () => resolve()));

let shard: Shard | undefined;

process.on('message', (m: ToShard) => {
  if (m.type === 'stop') {
    shard?.stop();
    return;
  }
  if (shard) return;
  const s = (shard = new Shard(m.plan));
  const timer = setInterval(() => {
    s.probe.sweep(performance.now());
    void send({ type: 'interval', interval: s.stats.drain() });
  }, 1000);
  s.run().then(
    async () => {
      clearInterval(timer);
      await send({ type: 'done', interval: s.stats.drain(), ledger: s.ledger.snapshot() });
      process.disconnect();
    },
    async (err: unknown) => {
      clearInterval(timer);
      await send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.disconnect();
    },
  );
});
// the coordinator went away: nothing left to report to
process.on('disconnect', () => process.exit(0));

void send({ type: 'ready' });
