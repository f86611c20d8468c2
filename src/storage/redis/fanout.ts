/**
 * The fan-out queue on Redis: a stream with one consumer group, read by every process
 * (XREADGROUP), taken over from a silent holder after a lease (XAUTOCLAIM), acknowledged and
 * deleted when done, so XLEN is what waits. Cursors live in a hash beside it; both keys share
 * the `{fanout}` hash tag, so each script touches one slot of a Cluster.
 *
 * Publishing writes the video (its own slot) first and queues its fan-out right after; a
 * failed enqueue refuses the post (see Engine.createVideo). One script cannot do both: the
 * video and the queue are in different slots.
 */
import type { FanoutClaim, FanoutLag, FanoutQueue, FanoutTask } from '../fanout.ts';
import { asArray, type RedisContext } from './context.ts';
import { io, isScriptFailure, scriptFailure } from './scripts.ts';

/** The one consumer group every process reads the queue with. */
const GROUP = 'fanout';

/** The FanoutQueue of the Redis driver. */
export class RedisFanout implements FanoutQueue {
  constructor(private readonly ctx: RedisContext) {}

  async enqueue(task: FanoutTask, max: number): Promise<{ id: string; waiting: number }> {
    const { queue } = this.ctx.keys.fanout();
    const reply = await this.ctx.scripts.run('fanout-enqueue', [queue], [GROUP, max, task.videoId, task.authorId, task.at, task.traceparent ?? '', task.tracestate ?? '']);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const [id, waiting] = asArray(reply);
    return { id: String(id), waiting: Number(waiting) };
  }

  async claim(consumer: string, opts: { limit: number; leaseMs: number; now: number }): Promise<FanoutClaim[]> {
    const { queue, cursors } = this.ctx.keys.fanout();
    const flat = asArray(await this.ctx.scripts.run('fanout-claim', [queue, cursors], [GROUP, consumer, Math.max(0, Math.floor(opts.leaseMs)), Math.max(1, opts.limit)]));
    const out: FanoutClaim[] = [];
    for (let i = 0; i + 7 < flat.length; i += 8) {
      const cursor = String(flat[i + 4]);
      const [traceparent, tracestate] = [String(flat[i + 6]), String(flat[i + 7])];
      const trace = traceparent === '' ? {} : tracestate === '' ? { traceparent } : { traceparent, tracestate };
      out.push({
        id: String(flat[i]),
        task: { videoId: String(flat[i + 1]), authorId: String(flat[i + 2]), at: Number(flat[i + 3]), ...trace },
        ...(cursor !== '' ? { cursor } : {}),
        resumed: Number(flat[i + 5]) === 1,
      });
    }
    return out;
  }

  async progress(id: string, consumer: string, cursor: string): Promise<boolean> {
    const { queue, cursors } = this.ctx.keys.fanout();
    return (await this.ctx.scripts.run('fanout-progress', [queue, cursors], [GROUP, consumer, id, cursor])) === 1;
  }

  async release(id: string, consumer: string, opts: { leaseMs: number }): Promise<boolean> {
    const { queue } = this.ctx.keys.fanout();
    return (await this.ctx.scripts.run('fanout-release', [queue], [GROUP, consumer, id, Math.max(0, Math.floor(opts.leaseMs))])) === 1;
  }

  async complete(id: string): Promise<void> {
    const { queue, cursors } = this.ctx.keys.fanout();
    await this.ctx.scripts.run('fanout-done', [queue, cursors], [GROUP, id]);
  }

  async lag(): Promise<FanoutLag> {
    const { client } = this.ctx;
    const { queue } = this.ctx.keys.fanout();
    const [waiting, first] = await Promise.all([io(() => client.xlen(queue)), io(() => client.xrange(queue, '-', '+', 'COUNT', 1))]);
    const fields = first[0]?.[1] ?? [];
    const at = fields.indexOf('at');
    return { waiting, oldestAt: at >= 0 && at % 2 === 0 ? Number(fields[at + 1]) : null };
  }
}
