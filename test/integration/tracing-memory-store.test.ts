/**
 * Storage spans on the memory driver (storage/traced.ts): every Store call a client span named
 * after the operation, under whatever span made the call, with the attributes the Redis
 * driver's script spans carry and never a key, id or text; exported over OTLP/HTTP to a real
 * receiver in this process, in OTLP's JSON encoding (the other tracing tests take the default,
 * protobuf).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { traceStore } from '../../src/storage/traced.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

describe('storage spans on the memory driver', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let server: Tremolo;

  before(async () => {
    receiver = await startOtlpReceiver();
    tracing = createOtelTracing({ serviceName: 'memory-spans', serviceVersion: 'test', defaultRatio: 1, rules: [], exporterUrl: receiver.url, env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' } });
    server = await startServer({ STORAGE: 'memory' }, { tracing });
  });
  after(async () => {
    await server.close();
    await tracing.shutdown();
    await receiver.close();
  });

  it('puts the store call of an actor turn under that turn, named and described like a script span', async () => {
    const owner = await newUser(server, 'mowner');
    const video = await owner.http.createVideo({ title: 'memory spans' });
    const fan = await newUser(server, 'mfan');
    const client = clientTraceparent();
    const res = await fetch(`${server.url}/v1/videos/${video.id}/like`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fan.token}`, traceparent: client.traceparent },
    });
    assert.ok(res.ok, `like answered ${res.status}`);
    await tracing.flush();
    const inTrace = () => receiver.spans.filter((s) => s.traceId === client.traceId);
    await eventually(() => inTrace().some((s) => s.name === 'videos.applyOps'), 'the store call is exported');
    const spans = inTrace();
    const turn = spans.find((s) => s.name === 'actor.turn video');
    assert.ok(turn, `an actor turn in the trace: ${spans.map((s) => s.name).join(', ')}`);
    const apply = spans.find((s) => s.name === 'videos.applyOps')!;
    assert.equal(apply.parentSpanId, turn.spanId, 'the group commit is a child of its turn');
    assert.equal(apply.kind, 3, 'client');
    assert.equal(apply.attributes['db.system.name'], 'memory');
    assert.equal(apply.attributes['db.operation.name'], 'videos.applyOps');
    for (const s of spans.filter((x) => x.attributes['db.system.name'] === 'memory')) {
      for (const v of Object.values(s.attributes)) {
        assert.ok(!String(v).includes(video.id) && !String(v).includes(fan.id), `${s.name} carries no ids or keys`);
      }
    }
    assert.deepEqual(receiver.rejected, []);
    assert.deepEqual(new Set(receiver.contentTypes), new Set(['application/json']), 'sent as OTLP_TRACES_PROTOCOL asked');
  });

  it('marks a failed call, passes values and sync answers through, and keeps the driver', async () => {
    const store = traceStore(new MemoryStore({ eventLogMax: 100, viewDedupS: 60 }), tracing);
    assert.equal(store.driver, 'memory');
    const root = tracing.start('memory-test', { parent: 'root' });
    const user = { id: '0000000000001', handle: 'twice', displayName: 'x', bio: '', createdAt: new Date().toISOString(), passwordHash: 'h' };
    // the active context is a synchronous scope (telemetry/tracing.ts): each call is made in it
    const inRoot = <T>(call: () => T): T => tracing.run(root.context, call);
    await inRoot(() => store.users.create(user));
    await assert.rejects(
      inRoot(() => store.users.create({ ...user, id: '0000000000002' })),
      { code: 'E_HANDLE_TAKEN' },
    );
    assert.equal((await inRoot(() => store.users.getByHandle('twice')))?.id, user.id);
    assert.equal(await inRoot(() => store.jobs.get('nope')), null);
    // after an await the scope is gone, and a storage span has no trace of its own to start
    await store.jobs.get('outside');
    root.end();
    await tracing.flush();
    const traceId = root.ids()!.trace_id;
    await eventually(() => receiver.spans.filter((s) => s.traceId === traceId).length >= 5, 'the test trace is exported');
    const spans = receiver.spans.filter((s) => s.traceId === traceId && s.name !== 'memory-test');
    assert.deepEqual(spans.map((s) => s.name).sort(), ['jobs.get', 'users.create', 'users.create', 'users.getByHandle']);
    assert.ok(spans.every((s) => s.parentSpanId === root.ids()!.span_id), 'each call a child of the caller');
    assert.deepEqual(
      spans.filter((s) => s.name === 'users.create').map((s) => s.statusCode).sort(),
      [0, 2],
      'the refused create is marked failed, the other not',
    );
  });

  it("answers a traced call with the store's own promise, its span ended (failed) before the caller resumes", async () => {
    const memory = new MemoryStore({ eventLogMax: 100, viewDedupS: 60 });
    // the driver's promises, to compare with what the traced store hands back
    const answered: Promise<unknown>[] = [];
    const get = memory.jobs.get.bind(memory.jobs);
    memory.jobs.get = (id) => {
      const p = id === 'fails' ? Promise.reject(new Error('driver down')) : get(id);
      answered.push(p);
      return p;
    };
    const store = traceStore(memory, tracing);
    const root = tracing.start('own-promise-test', { parent: 'root' });
    const ok = tracing.run(root.context, () => store.jobs.get('nope'));
    const failed = tracing.run(root.context, () => store.jobs.get('fails'));
    // the same promise, not one chained after it: a traced caller waits no microtask hop more
    assert.equal(ok, answered[0]);
    assert.equal(failed, answered[1]);
    assert.equal(await ok, null);
    await assert.rejects(failed, /driver down/);
    root.end();
    // both spans ended by now (each on a branch of its promise, registered before the caller's
    // await), so this flush exports them
    await tracing.flush();
    const traceId = root.ids()!.trace_id;
    await eventually(() => receiver.spans.filter((s) => s.traceId === traceId).length >= 3, 'the test trace is exported');
    const gets = receiver.spans.filter((s) => s.traceId === traceId && s.name === 'jobs.get');
    assert.deepEqual(gets.map((s) => s.statusCode).sort(), [0, 2], 'the rejected call is marked failed');
  });
});
