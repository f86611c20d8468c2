/**
 * Direct messages across real processes on one Redis: a device on one process gets what is
 * sent through another, exactly once and in order, and a process killed (SIGKILL) in the
 * middle of its batches loses no message it acknowledged: a retry of every send with its
 * idempotency key through the surviving process stores each message once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { io as rawIo, type Socket } from 'socket.io-client';
import type { DmEvent, DmEventsPayload, SendReply, SyncReply } from '../../src/protocol/dm.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser } from '../helpers/server.ts';

type Ack<T> = ({ ok: true } & T) | { ok: false; code: string };

function connect(url: string, token: string): Promise<Socket> {
  const socket = rawIo(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

describe('direct messages across processes on Redis', () => {
  const prefix = randomPrefix('dm');
  let a: ServerProcess;
  let b: ServerProcess;
  const sockets: Socket[] = [];
  const env = (nodeId: number) => ({
    STORAGE: 'redis',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    NODE_ID: String(nodeId),
    SOCKET_EVENTS_PER_SEC: '100000',
    USER_EVENTS_PER_SEC: '100000',
    DM_SYNC_PAGE: '1000',
  });

  before(async () => {
    [a, b] = await Promise.all([spawnServer(env(41)), spawnServer(env(42))]);
  });
  after(async () => {
    for (const s of sockets) s.close();
    // a killed process has no exit code, only a signal: stop() would wait for an exit that came already
    await Promise.all([a.child.signalCode === null ? a.stop() : undefined, b.stop()]);
    const redis = await connectRedis();
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('keeps every acknowledged message of a process killed mid-batch, and devices elsewhere get each once, in order', async () => {
    const sender = await newUser(b, 'dmk');
    const receiver = await newUser(b, 'dmr');
    await receiver.http.setDmPolicy('anyone');
    const onA = await connect(a.url, sender.token);
    const onB = await connect(b.url, receiver.token);
    sockets.push(onA, onB);
    const live: DmEvent[] = [];
    onB.on('dm:events', (p: DmEventsPayload) => live.push(...p.events));

    const first = (await onA.timeout(10_000).emitWithAck('dm:send', { toUserId: receiver.id, text: 'start', idempotencyKey: randomUUID() })) as Ack<SendReply>;
    assert.ok(first.ok);
    const cid = first.message.conversationId;

    // many sends in flight at once (they form batches), and the process is killed among them:
    // once some of the first half are acknowledged, the second half goes out and the kill
    // follows in the same tick, so sends are still in flight whatever the machine's speed
    const keys: string[] = Array.from({ length: 800 }, () => randomUUID());
    const acked = new Map<string, number>();
    const send = (key: string, i: number) =>
      onA.emit('dm:send', { conversationId: cid, text: `m${i}`, idempotencyKey: key }, (r: Ack<SendReply>) => {
        if (r.ok) acked.set(key, r.message.seq);
      });
    keys.slice(0, 400).forEach((key, i) => send(key, i));
    await eventually(() => acked.size >= 50, 'some sends acknowledged');
    keys.slice(400).forEach((key, i) => send(key, 400 + i));
    a.child.kill('SIGKILL');
    await new Promise((resolve) => a.child.once('exit', resolve));
    assert.ok(acked.size < keys.length, `the kill came mid-way (${acked.size} of ${keys.length} acknowledged)`);

    // every acknowledged message is stored: what the device holds after a sync (the reply
    // carries only what its socket was not sent live already) has each of them
    await new Promise<void>((resolve, reject) =>
      onB.timeout(10_000).emit('dm:sync', { since: 0 }, (err: Error | null, reply: Ack<SyncReply>) => {
        if (err || !reply.ok) return reject(err ?? new Error('dm:sync failed'));
        for (const c of reply.conversations) if (c.conversation.id === cid) live.push(...c.events);
        resolve();
      }),
    );
    const bySeq = new Map(live.map((e) => [e.seq, e]));
    for (const [key, seq] of acked) {
      const e = bySeq.get(seq);
      assert.ok(e?.type === 'message' && e.message.text === `m${keys.indexOf(key)}`, `acknowledged message ${seq} is stored`);
    }

    // the client retries everything through the other process: each message is stored once
    const onB2 = await connect(b.url, sender.token);
    sockets.push(onB2);
    for (const [i, key] of keys.entries()) {
      const r = (await onB2.timeout(10_000).emitWithAck('dm:send', { conversationId: cid, text: `m${i}`, idempotencyKey: key })) as Ack<SendReply>;
      assert.ok(r.ok);
      if (acked.has(key)) assert.equal(r.message.seq, acked.get(key), 'a retry of an acknowledged send is that message');
    }
    const history: DmEvent[] = [];
    for (let cursor: string | undefined; ; ) {
      const page = await receiver.http.messages(cid, { limit: 100, ...(cursor ? { cursor } : {}) });
      history.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    const texts = history.flatMap((e) => (e.type === 'message' ? [e.message.text] : []));
    assert.equal(texts.length, keys.length + 1);
    assert.equal(new Set(texts).size, keys.length + 1, 'no message stored twice');

    // the device on the surviving process saw each entry once, in order (gaps from the kill filled from the log)
    await eventually(() => live.length >= keys.length + 1, 'live delivery caught up');
    assert.deepEqual(
      live.map((e) => e.seq),
      Array.from({ length: keys.length + 1 }, (_, i) => i + 1),
    );
  });
});
