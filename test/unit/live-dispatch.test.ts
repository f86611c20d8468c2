import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { ManualClock } from '../../src/domain/clock.ts';
import type { Counters } from '../../src/protocol/model.ts';
import type { SocketData } from '../../src/protocol/live.ts';
import { ClientRequests } from '../../src/transport/live/client-requests.ts';
import { LiveDispatch, type DispatchDeps } from '../../src/transport/live/dispatch.ts';
import type { IoSocket } from '../../src/transport/live/io.ts';
import { WatchHolds } from '../../src/transport/live/watch-holds.ts';
import { Watches } from '../../src/transport/live/watches.ts';

const VIDEO = '0000000000007';
const counters: Counters = { likes: 1, comments: 0, views: 0, version: 2 };
type Like = { changed: boolean; counters: Counters; log: { offset: number } };

/** A dispatcher over an engine whose likes the test settles by hand. */
function harness(opts: { maxInflight?: number } = {}) {
  const clock = new ManualClock();
  const likes: { resolve: (r: Like) => void }[] = [];
  const engine = {
    like: () => new Promise<Like>((resolve) => likes.push({ resolve })),
  } as unknown as DispatchDeps['engine'];
  const errors: object[] = [];
  const dispatch = new LiveDispatch({
    engine,
    watches: new Watches({ engine: engine as never, holds: new WatchHolds(), maxWatches: 10 }),
    requests: new ClientRequests({ commentMaxChars: 500 }),
    socketLimiter: new RateLimiterMemory({ points: 1000, duration: 1 }),
    userLimiter: new RateLimiterMemory({ points: 1000, duration: 1 }),
    clock,
    log: { error: (obj) => errors.push(obj) },
    ...opts,
  });
  const socket = { id: 's1', data: { strikes: 0, userId: '0000000000001', address: 'a' } as SocketData, disconnect: () => {} } as unknown as IoSocket;
  /** Sends an event as the socket; resolves with its ack. */
  const send = (event: string, payload: unknown) =>
    new Promise<Record<string, unknown>>((ack) => dispatch.onEvent.call(socket, event, payload, ack));
  return { clock, likes, dispatch, socket, send, errors };
}

describe('LiveDispatch', () => {
  it('acknowledges a like with the reply the protocol declares', async () => {
    const h = harness();
    const acked = h.send('video:like', { videoId: VIDEO });
    await waitFor(() => h.likes.length === 1);
    h.likes[0]!.resolve({ changed: true, counters, log: { offset: 5 } });
    assert.deepEqual(await acked, { ok: true, changed: true, counters, offset: 5 });
  });

  it('refuses a payload that fails the shared schema, naming the field, and counts a strike', async () => {
    const h = harness();
    const bad = await h.send('video:like', { videoId: '../../etc' });
    assert.equal(bad.ok, false);
    assert.equal(bad.code, 'E_VALIDATION');
    assert.match(String(bad.message), /^videoId /);
    const missing = await h.send('comment:add', { videoId: VIDEO, text: 'hi' });
    assert.equal(missing.code, 'E_VALIDATION');
    assert.match(String(missing.message), /^idempotencyKey /);
    assert.equal((await h.send('video:like', 42)).code, 'E_VALIDATION');
    assert.equal((await h.send('__proto__', {})).code, 'E_UNKNOWN_EVENT');
    assert.equal(h.socket.data.strikes, 4);
  });

  it('refuses an event beyond SOCKET_MAX_INFLIGHT with E_BUSY at once, without a strike, and takes events again as those in flight are answered', async () => {
    const h = harness({ maxInflight: 2 });
    const first = h.send('video:like', { videoId: VIDEO });
    const second = h.send('video:like', { videoId: VIDEO });
    await waitFor(() => h.likes.length === 2);
    const busy = await h.send('video:like', { videoId: VIDEO });
    assert.equal(busy.ok, false);
    assert.equal(busy.code, 'E_BUSY');
    assert.equal(h.likes.length, 2, 'the refused event reached no engine call');
    assert.equal(h.socket.data.strikes, 0);
    h.likes[0]!.resolve({ changed: true, counters, log: { offset: 5 } });
    assert.equal((await first).ok, true);
    const third = h.send('video:like', { videoId: VIDEO });
    await waitFor(() => h.likes.length === 3);
    h.likes[1]!.resolve({ changed: false, counters, log: { offset: 5 } });
    h.likes[2]!.resolve({ changed: false, counters, log: { offset: 5 } });
    assert.equal((await second).ok, true);
    assert.equal((await third).ok, true);
  });

  it('on drain, refuses new events and waits for those in flight to be acknowledged', async () => {
    const h = harness();
    const inflight = h.send('video:like', { videoId: VIDEO });
    await waitFor(() => h.likes.length === 1);
    let drained = false;
    const drain = h.dispatch.drain(5000).then(() => (drained = true));
    assert.equal((await h.send('video:like', { videoId: VIDEO })).code, 'E_SHUTTING_DOWN');
    assert.equal(drained, false);
    h.likes[0]!.resolve({ changed: true, counters, log: { offset: 5 } });
    assert.equal((await inflight).ok, true);
    await drain;
    assert.equal(h.clock.pendingTimers, 0, 'the drain deadline is cleared');
  });

  it('gives up waiting at the deadline, on the injected clock', async () => {
    const h = harness();
    void h.send('video:like', { videoId: VIDEO });
    await waitFor(() => h.likes.length === 1);
    let drained = false;
    const drain = h.dispatch.drain(5000).then(() => (drained = true));
    h.clock.advance(4999);
    await Promise.resolve();
    assert.equal(drained, false);
    h.clock.advance(1);
    await drain;
  });
});

/** Lets the event loop run until `done` holds (a bounded number of turns, no time). */
async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(done(), 'condition not reached');
}
