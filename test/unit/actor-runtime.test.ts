import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActorSystem, actorKind, type ActorBehavior, type TurnFailure } from '../../src/actors/runtime.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { createMetrics } from '../../src/metrics.ts';

/** A counter: `add` answers the new total; `peek` answers the state without writing. */
type CounterMsg = { type: 'add'; n: number } | { type: 'peek' };
interface CounterReplies {
  add: number;
  peek: { total: number };
}
const COUNTER = actorKind<CounterMsg, CounterReplies>('counter');
const add = (n: number) => ({ type: 'add', n }) as const;

/** A counter actor over a fake storage whose calls the test completes by hand. */
function harness(limits = { idleMs: 1000, maxActive: 100, maxBatch: 100, mailboxLimit: 100 }) {
  const clock = new ManualClock();
  const loads: string[] = [];
  const writes: { id: string; batch: number[]; done: () => void; fail: (e: unknown) => void }[] = [];
  const published: string[] = [];
  let pendingLoad: { resolve: (v: number) => void; reject: (e: unknown) => void } | undefined;
  let holdLoads = false;
  const stored = new Map<string, number>();

  const behavior: ActorBehavior<{ total: number }, CounterMsg, CounterReplies> = {
    async activate(id) {
      loads.push(id);
      if (holdLoads) {
        return { total: await new Promise<number>((resolve, reject) => (pendingLoad = { resolve, reject })) };
      }
      return { total: stored.get(id) ?? 0 };
    },
    async turn(state, batch, id) {
      const added = batch.flatMap((m) => (m.type === 'add' ? [m.n] : []));
      const next = state.total + added.reduce((a, b) => a + b, 0);
      await new Promise<void>((done, fail) => writes.push({ id, batch: added, done, fail }));
      stored.set(id, next);
      state.total = next;
      return {
        answer: {
          add: (m) => (m.n < 0 ? new TremoloError('E_VALIDATION') : next),
          peek: () => ({ total: next }),
        },
        afterCommit: () => published.push(`${id}:${next}`),
      };
    },
  };
  const metrics = createMetrics({ defaultMetrics: false });
  const failures: TurnFailure[] = [];
  const system = new ActorSystem(clock, limits, { metrics, onError: (f) => failures.push(f) });
  system.register(COUNTER, behavior);
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
    const ref = h.system.ref(COUNTER, 'a');
    const p1 = ref.ask(add(1));
    await h.tick();
    assert.equal(h.writes.length, 1);
    const rest = [ref.ask(add(2)), ref.ask(add(3)), ref.ask(add(4))];
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
      .ref(COUNTER, 'a')
      .ask(add(5))
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
    const ref = h.system.ref(COUNTER, 'a');
    const first = ref.ask(add(1));
    await h.tick();
    const more = [ref.ask(add(1)), ref.ask(add(1)), ref.ask(add(1))];
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
    const ref = h.system.ref(COUNTER, 'a');
    const ps = [ref.ask(add(1)), ref.ask(add(1)), ref.ask(add(1))];
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
    const ref = h.system.ref(COUNTER, 'a');
    const p = ref.ask(add(1));
    await h.tick();
    h.failLoad(new TremoloError('E_STORAGE_UNAVAILABLE')); // how a store reports an outage
    await assert.rejects(p, (e: TremoloError) => e.code === 'E_STORAGE_UNAVAILABLE');
    assert.deepEqual(h.failures, [], 'an outage is not a bug');
    const p2 = ref.ask(add(2));
    await h.tick();
    h.writes[0]!.done();
    assert.equal(await p2, 2);
    assert.equal(h.loads.length, 2);
  });

  it('rejects at once with E_BUSY when the mailbox is full', async () => {
    const h = harness({ idleMs: 1000, maxActive: 10, maxBatch: 100, mailboxLimit: 2 });
    const ref = h.system.ref(COUNTER, 'a');
    const inflight = ref.ask(add(1));
    await h.tick(); // taken into a turn: the mailbox is empty again
    const q = [ref.ask(add(1)), ref.ask(add(1))];
    await assert.rejects(ref.ask(add(1)), (e: TremoloError) => e.code === 'E_BUSY' && e.retryAfter === 1);
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
    const a = h.system.ref(COUNTER, 'a');
    const b = h.system.ref(COUNTER, 'b');
    const pa = a.ask(add(1));
    const pb = b.ask(add(1));
    await h.tick();
    h.writes.find((w) => w.id === 'a')!.fail(new TremoloError('E_STORAGE_UNAVAILABLE'));
    h.writes.find((w) => w.id === 'b')!.done();
    await assert.rejects(pa, (e: TremoloError) => e.code === 'E_STORAGE_UNAVAILABLE');
    assert.equal(await pb, 1);
    assert.deepEqual(h.loads, ['a', 'b']);
    h.stored.set('a', 50); // storage is the truth: the reload sees it
    const pa2 = a.ask(add(1));
    await h.tick();
    assert.deepEqual(h.loads, ['a', 'b', 'a']);
    h.writes.at(-1)!.done();
    assert.equal(await pa2, 51);
  });

  it('a bug in a turn or a load is E_INTERNAL for callers and reported with the actor and batch, not called an outage', async () => {
    const h = harness();
    const ref = h.system.ref(COUNTER, 'a');
    const p1 = ref.ask(add(1));
    const p2 = ref.ask(add(2));
    await h.tick();
    const bug = new TypeError("Cannot read properties of undefined (reading 'likes')");
    h.writes[0]!.fail(bug);
    await assert.rejects(p1, (e: TremoloError) => e.code === 'E_INTERNAL' && e.cause === bug);
    await assert.rejects(p2, (e: TremoloError) => e.code === 'E_INTERNAL');
    assert.deepEqual(h.failures, [{ kind: 'counter', id: 'a', phase: 'turn', batchSize: 2, error: bug }]);

    h.hold();
    const p3 = h.system.ref(COUNTER, 'b').ask(add(1));
    await h.tick();
    const loadBug = new RangeError('bad state');
    h.failLoad(loadBug);
    await assert.rejects(p3, (e: TremoloError) => e.code === 'E_INTERNAL');
    assert.deepEqual(h.failures.at(-1), { kind: 'counter', id: 'b', phase: 'activate', batchSize: 1, error: loadBug });
  });

  it('per-message errors reject only that message', async () => {
    const h = harness();
    const ref = h.system.ref(COUNTER, 'a');
    const ok = ref.ask(add(1));
    const bad = ref.ask(add(-1));
    await h.tick();
    h.writes[0]!.done();
    assert.equal(await ok, 0);
    await assert.rejects(bad, (e: TremoloError) => e.code === 'E_VALIDATION');
  });

  it('passivates idle actors after idleMs without sleeping', async () => {
    const h = harness();
    const ref = h.system.ref(COUNTER, 'a');
    const p = ref.ask(add(1));
    await h.tick();
    h.writes[0]!.done();
    await p;
    await h.tick();
    assert.equal(h.system.isActive(COUNTER, 'a'), true);
    h.clock.advance(600);
    assert.equal(h.system.isActive(COUNTER, 'a'), true, 'not idle long enough');
    h.clock.advance(1000);
    assert.equal(h.system.isActive(COUNTER, 'a'), false);
    const p2 = ref.ask(add(1));
    await h.tick();
    h.writes[1]!.done();
    assert.equal(await p2, 2, 'state reloaded from storage');
    assert.deepEqual(h.loads, ['a', 'a']);
  });

  it('evicts the least recently used idle actor above maxActive', async () => {
    const h = harness({ idleMs: 100_000, maxActive: 2, maxBatch: 100, mailboxLimit: 100 });
    for (const id of ['a', 'b']) {
      const p = h.system.ref(COUNTER, id).ask(add(1));
      await h.tick();
      h.writes.at(-1)!.done();
      await p;
    }
    await h.tick();
    // touch a so b is the least recently used
    const pa = h.system.ref(COUNTER, 'a').ask(add(1));
    await h.tick();
    h.writes.at(-1)!.done();
    await pa;
    await h.tick();
    const pc = h.system.ref(COUNTER, 'c').ask(add(1));
    await h.tick();
    h.writes.at(-1)!.done();
    await pc;
    assert.equal(h.system.isActive(COUNTER, 'a'), true);
    assert.equal(h.system.isActive(COUNTER, 'b'), false);
    assert.equal(h.system.isActive(COUNTER, 'c'), true);
    assert.equal(h.system.activeCount(COUNTER), 2);
  });

  it('refuses new messages after drainAll and lets queued ones finish', async () => {
    const h = harness();
    const ref = h.system.ref(COUNTER, 'a');
    const p = ref.ask(add(1));
    await h.tick();
    const drained = h.system.drainAll(5000);
    await assert.rejects(ref.ask(add(1)), (e: TremoloError) => e.code === 'E_SHUTTING_DOWN');
    h.writes[0]!.done();
    assert.equal(await p, 1);
    await drained;
  });

  it('gives up waiting in drainAll after timeoutMs on its clock', async () => {
    const h = harness();
    const p = h.system.ref(COUNTER, 'a').ask(add(1));
    await h.tick();
    let drained = false;
    const drain = h.system.drainAll(5000).then(() => (drained = true));
    h.clock.advance(4999);
    await h.tick();
    assert.equal(drained, false, 'the turn is still writing');
    h.clock.advance(1);
    await drain;
    h.writes[0]!.done();
    assert.equal(await p, 1, 'the turn itself still completes');
  });

  it('answers each message with the reply of its type, in one turn', async () => {
    const h = harness();
    const ref = h.system.ref(COUNTER, 'a');
    const sum = ref.ask(add(2));
    const peek = ref.ask({ type: 'peek' });
    await h.tick();
    h.writes[0]!.done();
    const total: number = await sum;
    const state: { total: number } = await peek;
    assert.deepEqual([total, state], [2, { total: 2 }]);
  });

  it('a bug in one answer rejects only that message with E_INTERNAL and is reported; the write stands', async () => {
    const clock = new ManualClock();
    const failures: TurnFailure[] = [];
    const system = new ActorSystem(clock, { idleMs: 1000, maxActive: 10, maxBatch: 10, mailboxLimit: 10 }, { onError: (f) => failures.push(f) });
    const bug = new TypeError('answer bug');
    let total = 0;
    system.register(COUNTER, {
      activate: async () => ({}),
      turn: async (_state, batch) => {
        for (const m of batch) if (m.type === 'add') total += m.n;
        return {
          answer: {
            add: () => total,
            peek: () => {
              throw bug;
            },
          },
        };
      },
    });
    const ref = system.ref(COUNTER, 'a');
    const [added, peeked] = await Promise.allSettled([ref.ask(add(3)), ref.ask({ type: 'peek' })]);
    assert.deepEqual(added, { status: 'fulfilled', value: 3 });
    assert.equal(peeked.status, 'rejected');
    assert.equal((peeked as PromiseRejectedResult).reason.code, 'E_INTERNAL');
    assert.deepEqual(failures, [{ kind: 'counter', id: 'a', phase: 'turn', batchSize: 1, error: bug }]);
  });

  it('reports activations and queued messages of every registered kind as gauges', async () => {
    const h = harness();
    const p = h.system.ref(COUNTER, 'a').ask(add(1));
    await h.tick();
    const queued = h.system.ref(COUNTER, 'a').ask(add(1));
    const text = await h.metrics.registry.metrics();
    assert.match(text, /tremolo_actors_active\{kind="counter"\} 1/);
    assert.match(text, /tremolo_actor_mailbox_depth\{kind="counter"\} 1/);
    h.writes[0]!.done();
    await p;
    await h.tick();
    h.writes[1]!.done();
    await queued;
  });

  it('types every reply by its message, for callers and behaviours alike (a wrong one does not compile)', () => {
    const h = harness();
    const ref = h.system.ref(COUNTER, 'a');
    // Only type-checked (tsc runs over the tests): nothing here is sent.
    const _typed = async () => {
      const n: number = await ref.ask(add(1));
      // @ts-expect-error a peek is answered with { total }, not a number
      const wrong: number = await ref.ask({ type: 'peek' });
      // @ts-expect-error not a message of this kind
      await ref.ask({ type: 'subtract', n: 1 });
      return [n, wrong];
    };
    const _wrongBehaviour: ActorBehavior<object, CounterMsg, CounterReplies> = {
      activate: async () => ({}),
      // @ts-expect-error an add is answered with a number, not { total }
      turn: async () => ({
        answer: {
          add: () => ({ total: 1 }),
          peek: () => ({ total: 1 }),
        },
      }),
    };
    const _missing: ActorBehavior<object, CounterMsg, CounterReplies> = {
      activate: async () => ({}),
      // @ts-expect-error every message type needs its answer
      turn: async () => ({ answer: { add: () => 1 } }),
    };
    assert.equal(h.system.activeCount(COUNTER), 0);
  });
});
