import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { HashingQueue } from '../../src/transport/auth/hashing-queue.ts';

/** A hash that finishes when the test says so. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((r) => (open = r));
  return { open, hash: () => done };
}

describe('HashingQueue', () => {
  it('runs `concurrency` hashes at once, queues a few per kind, and refuses the rest with E_BUSY', async () => {
    const q = new HashingQueue({ concurrency: 1, queueMax: 1 });
    const order: string[] = [];
    const first = gate();
    const running = q.run('signup', async () => {
      await first.hash();
      order.push('signup 1');
    });
    const waiting = q.run('signup', async () => void order.push('signup 2'));
    await assert.rejects(q.run('signup', async () => void order.push('signup 3')), (e: TremoloError) => {
      assert.equal(e.code, 'E_BUSY');
      assert.equal(e.retryAfter, 1);
      return true;
    });
    // logins have their own room, and go first
    const login = q.run('login', async () => void order.push('login'));
    first.open();
    await Promise.all([running, waiting, login]);
    assert.deepEqual(order, ['signup 1', 'login', 'signup 2']);
    // all slots are free again
    await q.run('signup', async () => void order.push('after'));
    assert.equal(order.at(-1), 'after');
  });

  it('frees the slot when a hash fails', async () => {
    const q = new HashingQueue({ concurrency: 1, queueMax: 0 });
    await assert.rejects(q.run('login', () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await q.run('login', async () => 42), 42);
  });

  it('validates its settings', () => {
    assert.throws(() => new HashingQueue({ concurrency: 0, queueMax: 1 }), RangeError);
    assert.throws(() => new HashingQueue({ concurrency: 1, queueMax: -1 }), RangeError);
  });
});
