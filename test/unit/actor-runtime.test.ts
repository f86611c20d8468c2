import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActorSystem, type ActorBehavior, type TurnFailure } from '../../src/actors/runtime.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { createMetrics } from '../../src/metrics.ts';

/** A counter actor over a fake storage whose calls the test completes by hand. */
function harness(limits = { idleMs: 1000, maxActive: 100, maxBatch: 100, mailboxLimit: 100 }) {
  const clock = new ManualClock();
  const loads: string[] = [];
  const writes: { id: string; batch: number[]; done: () => void; fail: (e: unknown) => void }[] = [];
  const published: string[] = [];
  let pendingLoad: { resolve: (v: number) => void; reject: (e: unknown) => void } | undefined;
  let holdLoads = false;
  const stored = new Map<string, number>();

  const behavior: ActorBehavior<{ total: number }, number, number> = {
    async activate(id) {
      loads.push(id);
      if (holdLoads) {
        return { total: await new Promise<number>((resolve, reject) => (pendingLoad = { resolve, reject })) };
      }
      return { total: stored.get(id) ?? 0 };
    },
    async turn(state, batch, id) {
      const next = state.total + batch.reduce((a, b) => a + b, 0);
      await new Promise<void>((done, fail) => writes.push({ id, batch: [...batch], done, fail }));
      stored.set(id, next);
      state.total = next;
      return {
        replies: batch.map((n) => (n < 0 ? new TremoloError('E_VALIDATION') : next)),
        afterCommit: () => published.push(`${id}:${next}`),
      };
    },
  };
  const metrics = createMetrics({ defaultMetrics: false });
  const failures: TurnFailure[] = [];
  const system = new ActorSystem(clock, limits, { metrics: metrics.actors, onError: (f) => failures.push(f) });
  system.register('counter', behavior);
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    clock,
    system,
    loads,
    writes,
    published,
    stored,
    metrics,
    failures,
    tick,
    hold: () => (holdLoads = true),
    release: (v: number) => {
      holdLoads = false;
      pendingLoad?.resolve(v);
    },
    failLoad: (e: unknown) => {
      holdLoads = false;
      pendingLoad?.reject(e);
    },
  };
}

describe('actor runtime', () => {
  it('group-commits: messages queued during a write form the next batch, one storage call each', async () => {
    const h = harness();
    const ref = h.system.ref<number, number>('counter', 'a');
    const p1 = ref.ask(1);
    await h.tick();
    assert.equal(h.writes.length, 1);
    const rest = [ref.ask(2), ref.ask(3), ref.ask(4)];
    await h.tick();
    assert.equal(h.writes.length, 1, 'no second write while the first is in flight');
    h.writes[0]!.done();
    assert.equal(await p1, 1);
    await h.tick();
    assert.equal(h.writes.length, 2);
    assert.deepEqual(h.writes[1]!.batch, [2, 3, 4]);
    h.writes[1]!.done();
    assert.deepEqual(await Promise.all(rest), [10, 10, 10]);
  });

  it('resolves no reply and publishes no event before the write resolved (output gate)', async () => {
    const h = harness();
    let settled = false;
    const p = h.system
      .ref<number, number>('counter', 'a')
      .ask(5)
      .then(() => (settled = true));
    for (let i = 0; i < 5; i++) await h.tick();
    assert.equal(settled, false);
    assert.deepEqual(h.published, []);
    h.writes[0]!.done();
    await p;
    assert.equal(settled, true);
    assert.deepEqual(h.published, ['a:5']);
  });

  it('caps a batch at maxBatch', async () => {
    const h = harness({ idleMs: 1000, maxActive: 10, maxBatch: 2, mailboxLimit: 100 });
    const ref = h.system.ref<number, number>('counter', 'a');
    const first = ref.ask(1);
    await h.tick();
    const more = [ref.ask(1), ref.ask(1), ref.ask(1)];
    h.writes[0]!.done();
    await first;
    await h.tick();
    assert.deepEqual(h.writes[1]!.batch, [1, 1]);
    h.writes[1]!.done();
    await h.tick();
    await h.tick();
    assert.deepEqual(h.writes[2]!.batch, [1]);
    h.writes[2]!.done();
    await Promise.all(more);
  });

  it('loads state once; messages during the load wait for it', async () => {
    const h = harness();
    h.hold();
    const ref = h.system.ref<number, number>('counter', 'a');
    const ps = [ref.ask(1), ref.ask(1), ref.ask(1)];
    await h.tick();
    assert.deepEqual(h.loads, ['a']);
    h.release(100);
    await h.tick();
    assert.equal(h.writes.length, 1);
    assert.deepEqual(h.writes[0]!.batch, [1, 1, 1]);
    h.writes[0]!.done();
    assert.deepEqual(await Promise.all(ps), [103, 103, 103]);
    assert.deepEqual(h.loads, ['a']);
  });

  it('a failed load rejects the waiting messages; the next message loads again', async () => {
    const h = harness();
    h.hold();
    const ref = h.system.ref<number, number>('counter', 'a');
    const p = ref.ask(1);
    await h.tick();
    h.failLoad(new TremoloError('E_STORAGE_UNAVAILABLE')); // how a store reports an outage
    await assert.rejects(p, (e: TremoloError) => e.code === 'E_STORAGE_UNAVAILABLE');
    assert.deepEqual(h.failures, [], 'an outage is not a bug');
    const p2 = ref.ask(2);
    await h.tick();
    h.writes[0]!.done();
    assert.equal(await p2, 2);
    assert.equal(h.loads.length, 2);
  });

  it('rejects at once with E_BUSY when the mailbox is full', async () => {
    const h = harness({ idleMs: 1000, maxActive: 10, maxBatch: 100, mailboxLimit: 2 });
    const ref = h.system.ref<number, number>('counter', 'a');
    const inflight = ref.ask(1);
    await h.tick(); // taken into a turn: the mailbox is empty again
    const q = [ref.ask(1), ref.ask(1)];
    await assert.rejects(ref.ask(1), (e: TremoloError) => e.code === 'E_BUSY' && e.retryAfter === 1);
    h.writes[0]!.done();
    await inflight;
    await h.tick();
    h.writes[1]!.done();
    await Promise.all(q);
    const busy = await h.metrics.registry.getSingleMetricAsString('tremolo_actor_busy_total');
    assert.match(busy, /kind="counter"} 1/);
  });

  it('a failed turn rejects its messages, drops state and reloads; other actors are unaffected', async () => {
    const h = harness();
    const a = h.system.ref<number, number>('counter', 'a');
    const b = h.system.ref<number, number>('counter', 'b');
    const pa = a.ask(1);
    const pb = b.ask(1);
    await h.tick();
    h.writes.find((w) => w.id === 'a')!.fail(new TremoloError('E_STORAGE_UNAVAILABLE'));
    h.writes.find((w) => w.id === 'b')!.done();
    await assert.rejects(pa, (e: TremoloError) => e.code === 'E_STORAGE_UNAVAILABLE');
    assert.equal(await pb, 1);
    assert.deepEqual(h.loads, ['a', 'b']);
    h.stored.set('a', 50); // storage is the truth: the reload sees it
    const pa2 = a.ask(1);
    await h.tick();
    assert.deepEqual(h.loads, ['a', 'b', 'a']);
    h.writes.at(-1)!.done();
    assert.equal(await pa2, 51);
  });

  it('a bug in a turn or a load is E_INTERNAL for callers and reported with the actor and batch, not called an outage', async () => {
    const h = harness();
    const ref = h.system.ref<number, number>('counter', 'a');
    const p1 = ref.ask(1);
    const p2 = ref.ask(2);
    await h.tick();
    const bug = new TypeError("Cannot read properties of undefined (reading 'likes')");
    h.writes[0]!.fail(bug);
    await assert.rejects(p1, (e: TremoloError) => e.code === 'E_INTERNAL' && e.cause === bug);
    await assert.rejects(p2, (e: TremoloError) => e.code === 'E_INTERNAL');
    assert.deepEqual(h.failures, [{ kind: 'counter', id: 'a', phase: 'turn', batchSize: 2, error: bug }]);

    h.hold();
    const p3 = h.system.ref<number, number>('counter', 'b').ask(1);
    await h.tick();
    const loadBug = new RangeError('bad state');
    h.failLoad(loadBug);
    await assert.rejects(p3, (e: TremoloError) => e.code === 'E_INTERNAL');
    assert.deepEqual(h.failures.at(-1), { kind: 'counter', id: 'b', phase: 'activate', batchSize: 1, error: loadBug });
  });

  it('per-message errors reject only that message', async () => {
    const h = harness();
    const ref = h.system.ref<number, number>('counter', 'a');
    const ok = ref.ask(1);
    const bad = ref.ask(-1);
    await h.tick();
    h.writes[0]!.done();
    assert.equal(await ok, 0);
    await assert.rejects(bad, (e: TremoloError) => e.code === 'E_VALIDATION');
  });

  it('passivates idle actors after idleMs without sleeping', async () => {
    const h = harness();
    const ref = h.system.ref<number, number>('counter', 'a');
    const p = ref.ask(1);
    await h.tick();
    h.writes[0]!.done();
    await p;
    await h.tick();
    assert.equal(h.system.isActive('counter', 'a'), true);
    h.clock.advance(600);
    assert.equal(h.system.isActive('counter', 'a'), true, 'not idle long enough');
    h.clock.advance(1000);
    assert.equal(h.system.isActive('counter', 'a'), false);
    const p2 = ref.ask(1);
    await h.tick();
    h.writes[1]!.done();
    assert.equal(await p2, 2, 'state reloaded from storage');
    assert.deepEqual(h.loads, ['a', 'a']);
  });

  it('evicts the least recently used idle actor above maxActive', async () => {
    const h = harness({ idleMs: 100_000, maxActive: 2, maxBatch: 100, mailboxLimit: 100 });
    for (const id of ['a', 'b']) {
      const p = h.system.ref<number, number>('counter', id).ask(1);
      await h.tick();
      h.writes.at(-1)!.done();
      await p;
    }
    await h.tick();
    // touch a so b is the least recently used
    const pa = h.system.ref<number, number>('counter', 'a').ask(1);
    await h.tick();
    h.writes.at(-1)!.done();
    await pa;
    await h.tick();
    const pc = h.system.ref<number, number>('counter', 'c').ask(1);
    await h.tick();
    h.writes.at(-1)!.done();
    await pc;
    assert.equal(h.system.isActive('counter', 'a'), true);
    assert.equal(h.system.isActive('counter', 'b'), false);
    assert.equal(h.system.isActive('counter', 'c'), true);
    assert.equal(h.system.activeCount('counter'), 2);
  });

  it('refuses new messages after drainAll and lets queued ones finish', async () => {
    const h = harness();
    const ref = h.system.ref<number, number>('counter', 'a');
    const p = ref.ask(1);
    await h.tick();
    const drained = h.system.drainAll(5000);
    await assert.rejects(ref.ask(1), (e: TremoloError) => e.code === 'E_SHUTTING_DOWN');
    h.writes[0]!.done();
    assert.equal(await p, 1);
    await drained;
  });
});
