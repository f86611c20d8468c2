/**
 * One trace across two server processes on Redis, exported over OTLP/HTTP to a real receiver
 * in this process: a socket `video:like` on process A -> the actor turn -> the Redis script ->
 * the delivery of the counters to a watcher on process B. Log lines carry the trace ids.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { LiveClient } from '../../src/client/live-client.ts';
import type { CounterPayload } from '../../src/protocol/live.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, liveClient, newUser } from '../helpers/server.ts';

describe('tracing across processes on Redis', () => {
  const prefix = randomPrefix('trace');
  let receiver: OtlpReceiver;
  let a: ServerProcess;
  let b: ServerProcess;
  let admin: Redis;
  const clients: LiveClient[] = [];

  before(async () => {
    admin = await connectRedis();
    receiver = await startOtlpReceiver();
    const env = (name: string, nodeId: string) => ({
      STORAGE: 'redis',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      NODE_ID: nodeId,
      LIVE_COUNTER_INTERVAL_MS: '50',
      LOG_LEVEL: 'info',
      TRACING_ENABLED: 'true',
      TRACE_SAMPLE_RATIO: '1',
      OTEL_SERVICE_NAME: name,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    });
    [a, b] = await Promise.all([spawnServer(env('tremolo-a', '1')), spawnServer(env('tremolo-b', '2'))]);
  });
  after(async () => {
    for (const c of clients) c.close();
    const codes = await Promise.all([a?.stop(), b?.stop()]);
    assert.deepEqual(codes, [0, 0], 'graceful shutdown exits 0');
    await receiver.close();
    await dropPrefix(admin, prefix);
    admin.disconnect();
  });

  const inTrace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
  const one = (spans: ReceivedSpan[], pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
    const found = spans.filter(pred);
    assert.equal(found.length, 1, `one ${what}, got ${found.length}: ${spans.map((s) => `${s.service}/${s.name}`).join(', ')}`);
    return found[0]!;
  };

  it('follows a like from the socket on A through the actor turn and Redis to the watcher on B', async () => {
    const owner = await newUser(a, 'owner');
    const video = await owner.http.createVideo({ title: 'traced' });
    const watcher = await liveClient(b);
    clients.push(watcher);
    const counters: CounterPayload[] = [];
    watcher.on('counters', (c) => counters.push(c));
    await watcher.watch(video.id);

    const fan = await newUser(a, 'fan');
    const client = clientTraceparent();
    const liker = await liveClient(a, { token: fan.token, traceparent: client.traceparent, tracestate: 'vendor=abc' });
    clients.push(liker);
    await liker.like(video.id);
    await eventually(() => counters.some((c) => c.likes === 1), 'the watcher on B sees the like');

    // the span names the issue asks for, all in the client's trace
    // each process exports in its own batches: wait for every span the trace should have
    const expected = ['tremolo-a/video:like', 'tremolo-a/actor.turn video', 'tremolo-a/EVALSHA video-apply', 'tremolo-b/video:events receive', 'tremolo-b/video:counters deliver'];
    await eventually(() => expected.every((e) => inTrace(client.traceId).some((s) => `${s.service}/${s.name}` === e)), 'both processes exported the trace');
    const spans = inTrace(client.traceId);
    const event = one(spans, (s) => s.service === 'tremolo-a' && s.name === 'video:like', 'socket event span');
    assert.equal(event.parentSpanId, client.spanId, 'the event continues the handshake traceparent');
    assert.equal(event.kind, 2);
    assert.equal(event.attributes['tremolo.ack.code'], 'ok');
    assert.equal(event.attributes['tremolo.video.id'], video.id);
    assert.equal(event.attributes['enduser.id'], fan.id);

    const turn = one(spans, (s) => s.service === 'tremolo-a' && s.name === 'actor.turn video', 'actor turn');
    assert.equal(turn.parentSpanId, event.spanId);
    assert.ok(turn.links.some((l) => l.spanId === event.spanId && l.traceId === client.traceId), 'the turn links to the message it served');
    assert.equal(turn.attributes['tremolo.actor.batch_size'], 1);
    assert.equal(turn.attributes['tremolo.actor.outcome'], 'ok');

    const script = one(spans, (s) => s.name === 'EVALSHA video-apply', 'script span');
    assert.equal(script.service, 'tremolo-a');
    assert.equal(script.parentSpanId, turn.spanId);
    assert.equal(script.kind, 3);
    assert.equal(script.attributes['db.system.name'], 'redis');
    assert.equal(script.attributes['tremolo.redis.keys'], Number(script.attributes['tremolo.redis.keys']));
    // never key values or user ids in storage spans
    for (const v of Object.values(script.attributes)) assert.ok(!String(v).includes(video.id) && !String(v).includes(fan.id));

    const received = one(spans, (s) => s.service === 'tremolo-b' && s.name === 'video:events receive', 'cross-process receive');
    assert.equal(received.parentSpanId, turn.spanId, 'the delivery on B is a child of the turn that wrote on A');
    assert.equal(received.kind, 5);
    assert.equal(received.traceState, 'vendor=abc', "the client's tracestate crossed to B with the traceparent");
    const delivered = spans.find((s) => s.service === 'tremolo-b' && s.name === 'video:counters deliver')!;
    assert.equal(delivered.parentSpanId, received.spanId);
    assert.ok(delivered.links.some((l) => l.spanId === received.spanId), 'the delivery links to the write it carries');
    assert.equal(delivered.attributes['tremolo.video.id'], video.id);
    assert.ok(Number(delivered.attributes['tremolo.room.size']) >= 1);
    assert.deepEqual(receiver.rejected, []);
  });

  it('links a coalesced counter delivery to every write it stands for', async () => {
    const owner = await newUser(a, 'owner2');
    const video = await owner.http.createVideo({ title: 'coalesced' });
    const watcher = await liveClient(b);
    clients.push(watcher);
    const counters: CounterPayload[] = [];
    watcher.on('counters', (c) => counters.push(c));
    await watcher.watch(video.id);
    const fans = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => newUser(a, `burst${i}`)));
    const likers = await Promise.all(fans.map((f) => liveClient(a, { token: f.token })));
    clients.push(...likers);
    await Promise.all(likers.map((l) => l.like(video.id)));
    await eventually(() => counters.some((c) => c.likes === 6), 'the watcher sees all six');
    const onB = (name: string) => receiver.spans.filter((s) => s.service === 'tremolo-b' && s.name === name && s.attributes['tremolo.video.id'] === video.id);
    const linked = () => new Set(onB('video:counters deliver').flatMap((d) => d.links.map((l) => l.spanId)));
    // each write reaches B in a receive span; the delivery that carried (or superseded) it links to it
    await eventually(
      () => onB('video:events receive').length > 0 && onB('video:events receive').every((r) => linked().has(r.spanId)),
      'every write B received is linked from a delivery',
    );
    const writes = onB('video:counters deliver').reduce((n, d) => n + Number(d.attributes['tremolo.coalesced.writes']), 0);
    assert.ok(writes >= onB('video:events receive').length, 'the deliveries count every write they stand for');

    // six socket events, six traces (no traceparent given); the turns that served them link to each
    // A exports in its own batches: wait for its six event spans
    const likeSpans = () => receiver.spans.filter((s) => s.name === 'video:like' && s.attributes['tremolo.video.id'] === video.id);
    await eventually(() => likeSpans().length >= 6, "A's six video:like spans");
    const likes = likeSpans();
    assert.equal(new Set(likes.map((s) => s.traceId)).size, 6);
    await eventually(() => {
      const turns = receiver.spans.filter((s) => s.name === 'actor.turn video' && s.attributes['tremolo.actor.id'] === video.id);
      const served = new Set(turns.flatMap((t) => t.links.map((l) => l.spanId)));
      return likes.every((l) => served.has(l.spanId));
    }, 'every like is linked from the turn that committed it');
    // the turns that served likes (others on this video: its creation, the watcher's view)
    const likeIds = new Set(likes.map((l) => l.spanId));
    const turns = receiver.spans.filter((s) => s.name === 'actor.turn video' && s.links.some((l) => likeIds.has(l.spanId)));
    assert.equal(
      turns.reduce((n, t) => n + Number(t.attributes['tremolo.actor.batch_size']), 0),
      turns.reduce((n, t) => n + t.links.length, 0),
      'one link per message in each batch',
    );
    for (const t of turns) assert.ok(likes.some((l) => l.spanId === t.parentSpanId), 'a turn is the child of one of its messages');
  });

  it('puts the trace and span ids in the log lines of a traced request', async () => {
    const u = await newUser(a, 'logged');
    const res = await fetch(`${a.url}/v1/videos/0000000000000/comments`, { headers: { authorization: `Bearer ${u.token}` } });
    assert.ok(res.status >= 400);
    await eventually(() => receiver.spans.some((s) => s.service === 'tremolo-a' && s.name === 'GET /v1/videos/:id/comments'), 'the request span is exported');
    const span = receiver.spans.find((s) => s.service === 'tremolo-a' && s.name === 'GET /v1/videos/:id/comments')!;
    assert.equal(span.kind, 2);
    assert.equal(span.attributes['http.route'], '/v1/videos/:id/comments');
    assert.equal(span.attributes['http.response.status_code'], res.status);
    const lines = a
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { trace_id?: string; span_id?: string });
    assert.ok(
      lines.some((l) => l.trace_id === span.traceId && l.span_id === span.spanId),
      'a log line of that request names its trace and span',
    );
  });
});
