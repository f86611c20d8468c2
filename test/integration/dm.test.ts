/**
 * Direct messages end to end over real sockets, with plain socket.io-client (not the SDK):
 * exactly-once, in-order delivery to every device, receipts seen by every device, offline sync,
 * who may message whom, and typing that is never stored.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { io as rawIo, type Socket } from 'socket.io-client';
import type { DmEvent, DmEventsPayload, DmReceiptPayload, DmTypingPayload, SyncReply } from '../../src/protocol/dm.ts';
import type { Tremolo } from '../../src/main.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

type Ack<T> = ({ ok: true } & T) | { ok: false; code: string; message: string };

/** A device: a raw socket that records every dm entry it is sent, per conversation. */
class Device {
  readonly entries = new Map<string, DmEvent[]>();
  readonly receipts: DmReceiptPayload[] = [];
  readonly typing: DmTypingPayload[] = [];
  readonly socket: Socket;

  constructor(url: string, token: string) {
    this.socket = rawIo(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    this.socket.on('dm:events', (p: DmEventsPayload) => this.take(p.conversationId, p.events));
    this.socket.on('dm:receipt', (p: DmReceiptPayload) => this.receipts.push(p));
    this.socket.on('dm:typing', (p: DmTypingPayload) => this.typing.push(p));
  }

  take(conversationId: string, events: DmEvent[]): void {
    let list = this.entries.get(conversationId);
    if (!list) this.entries.set(conversationId, (list = []));
    list.push(...events);
  }

  seqs(conversationId: string): number[] {
    return (this.entries.get(conversationId) ?? []).map((e) => e.seq);
  }

  async connected(): Promise<this> {
    if (!this.socket.connected) await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
    return this;
  }

  async emit<T>(event: string, payload: unknown): Promise<Ack<T>> {
    return (await this.socket.timeout(10_000).emitWithAck(event, payload)) as Ack<T>;
  }

  async ok<T>(event: string, payload: unknown): Promise<T> {
    const r = await this.emit<T>(event, payload);
    if (!r.ok) throw new Error(`${event} failed: ${r.code} ${r.message}`);
    return r;
  }

  /**
   * Syncs like a client that keeps what it holds: entries from the reply are recorded in the
   * ack callback itself, i.e. in the order the packets arrived (a promise would run later,
   * after the `dm:events` that follow the ack in the same read).
   */
  sync(since: number, cursors: { conversationId: string; seq: number; epoch?: string }[]): Promise<SyncReply> {
    return new Promise((resolve, reject) => {
      this.socket.timeout(10_000).emit('dm:sync', { since, cursors }, (err: Error | null, reply: Ack<SyncReply>) => {
        if (err) return reject(err);
        if (!reply.ok) return reject(new Error(`dm:sync failed: ${reply.code}`));
        for (const c of reply.conversations) this.take(c.conversation.id, c.events);
        resolve(reply);
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('direct messages over raw sockets', () => {
  let server: Tremolo;
  const devices: Device[] = [];
  const device = async (token: string) => {
    const d = new Device(server.url, token);
    devices.push(d);
    return d.connected();
  };
  /** Two users who follow each other (the default policy lets them talk). */
  const friends = async () => {
    const a = await newUser(server, 'dma');
    const b = await newUser(server, 'dmb');
    await a.http.follow(b.id);
    await b.http.follow(a.id);
    return { a, b };
  };

  before(async () => {
    server = await startServer({ SOCKET_EVENTS_PER_SEC: '100000', USER_EVENTS_PER_SEC: '100000', DM_SYNC_PAGE: '50' });
  });
  after(async () => {
    for (const d of devices) d.close();
    await server.close();
  });

  it('delivers each message once, in order, to both devices of the recipient and the sender\'s other device; both see read state', async () => {
    const { a, b } = await friends();
    const [a1, a2, b1, b2] = await Promise.all([device(a.token), device(a.token), device(b.token), device(b.token)]);
    const first = await a1.ok<{ message: { conversationId: string; seq: number }; duplicate: boolean }>('dm:send', { toUserId: b.id, text: 'hi', idempotencyKey: randomUUID() });
    const cid = first.message.conversationId;
    const sends = [];
    for (let i = 0; i < 30; i++) sends.push((i % 2 ? b1 : a1).ok('dm:send', { conversationId: cid, text: `m${i}`, idempotencyKey: randomUUID() }));
    await Promise.all(sends);
    await a1.ok('dm:send', { conversationId: cid, text: 'last', idempotencyKey: randomUUID() });
    for (const d of [a1, a2, b1, b2]) await eventually(() => d.seqs(cid).length >= 32, 'every device has every message');
    for (const d of [a1, a2, b1, b2]) assert.deepEqual(d.seqs(cid), range(1, 32), 'each device got each seq once, in order');

    const read = await b1.ok<{ read: number; unread: number }>('dm:receipt', { conversationId: cid, read: 32 });
    assert.equal(read.read, 32);
    assert.equal(read.unread, 0);
    for (const d of [b1, b2, a1, a2]) {
      await eventually(() => d.receipts.some((r) => r.conversationId === cid && r.userId === b.id && r.read === 32), 'the read receipt reaches every device');
    }
    const seenByB2 = b2.receipts.find((r) => r.userId === b.id && r.read === 32);
    assert.equal(seenByB2?.unread, 0, 'the reader\'s other device sees the conversation read');
    const inbox = await b.http.conversations();
    assert.deepEqual(
      inbox.items.filter((c) => c.id === cid).map((c) => [c.unread, c.read, c.lastMessage?.seq]),
      [[0, 32, 32]],
    );
  });

  it('stores a retried send once', async () => {
    const { a, b } = await friends();
    const a1 = await device(a.token);
    const key = randomUUID();
    const one = await a1.ok<{ message: { seq: number }; duplicate: boolean }>('dm:send', { toUserId: b.id, text: 'once', idempotencyKey: key });
    const two = await a1.ok<{ message: { seq: number }; duplicate: boolean }>('dm:send', { toUserId: b.id, text: 'once', idempotencyKey: key });
    assert.equal(one.duplicate, false);
    assert.equal(two.duplicate, true);
    assert.equal(two.message.seq, one.message.seq);
  });

  it('brings a device that was offline for 500 messages up to date in order, with no gap or duplicate, while messages keep coming', async () => {
    const { a, b } = await friends();
    const a1 = await device(a.token);
    let b1 = await device(b.token);
    const first = await a1.ok<{ message: { conversationId: string }; epoch: string }>('dm:send', { toUserId: b.id, text: 'before', idempotencyKey: randomUUID() });
    const cid = first.message.conversationId;
    await eventually(() => b1.seqs(cid).length === 1, 'the first message arrives');
    const reply0 = await b1.sync(0, []);
    const syncPoint = reply0.syncPoint;
    const held = b1.entries.get(cid)!;
    const heldSeq = held.at(-1)!.seq;
    b1.close();

    for (let i = 0; i < 500; i++) await a1.ok('dm:send', { conversationId: cid, text: `offline ${i}`, idempotencyKey: randomUUID() });

    // back online: sync from what it holds while the sender keeps going
    b1 = await device(b.token);
    b1.take(cid, held);
    const more = (async () => {
      for (let i = 0; i < 50; i++) await a1.ok('dm:send', { conversationId: cid, text: `live ${i}`, idempotencyKey: randomUUID() });
    })();
    const reply = await b1.sync(syncPoint, [{ conversationId: cid, seq: heldSeq, epoch: first.epoch }]);
    const synced = reply.conversations.find((c) => c.conversation.id === cid);
    assert.equal(synced?.recovered, true);
    assert.equal(synced?.events.length, 50, 'one page in the reply (DM_SYNC_PAGE), the rest follows as dm:events');
    await more;
    await eventually(() => b1.seqs(cid).length >= 551, 'all 551 messages');
    const got = b1.seqs(cid);
    assert.deepEqual([...got].sort((x, y) => x - y), range(1, 551), 'every message exactly once');
    // live entries may reach the socket before its sync is handled; from the reply on, all is in order
    const fromReply = got.slice(got.indexOf(heldSeq + 1));
    assert.deepEqual(fromReply, [...fromReply].sort((x, y) => x - y), 'in seq order from the sync reply on');
    assert.ok(got.indexOf(heldSeq + 1) <= 1 + 50, 'at most what arrived live before the sync comes first');
    const texts = [...b1.entries.get(cid)!].sort((x, y) => x.seq - y.seq).map((e) => (e.type === 'message' ? e.message.text : ''));
    assert.deepEqual(texts.slice(1, 501), range(0, 499).map((i) => `offline ${i}`));
  });

  it('answers a device whose position the log no longer reaches with the newest page and recovered: false', async () => {
    const small = await startServer({ DM_LOG_MAX: '10', DM_SYNC_PAGE: '5', SOCKET_EVENTS_PER_SEC: '100000', USER_EVENTS_PER_SEC: '100000' });
    try {
      const a = await newUser(small, 'dmsa');
      const b = await newUser(small, 'dmsb');
      await b.http.setDmPolicy('anyone');
      const a1 = new Device(small.url, a.token);
      devices.push(a1);
      await a1.connected();
      let cid = '';
      for (let i = 0; i < 30; i++) cid = (await a1.ok<{ message: { conversationId: string } }>('dm:send', { toUserId: b.id, text: `${i}`, idempotencyKey: randomUUID() })).message.conversationId;
      const b1 = new Device(small.url, b.token);
      devices.push(b1);
      await b1.connected();
      const reply = await b1.sync(0, [{ conversationId: cid, seq: 2 }]);
      const c = reply.conversations.find((x) => x.conversation.id === cid);
      assert.equal(c?.recovered, false);
      assert.deepEqual(c?.events.map((e) => e.seq), [26, 27, 28, 29, 30]);
    } finally {
      await small.close();
    }
  });

  it('refuses senders the recipient does not accept, and lets them through once allowed', async () => {
    const a = await newUser(server, 'dmx');
    const b = await newUser(server, 'dmy');
    const a1 = await device(a.token);
    const send = () => a1.emit('dm:send', { toUserId: b.id, text: 'hello?', idempotencyKey: randomUUID() });
    assert.equal(((await send()) as { code: string }).code, 'E_DM_NOT_ALLOWED', 'not mutual followers');
    await a.http.follow(b.id);
    assert.deepEqual(((await send()) as { code: string }).code, 'E_DM_NOT_ALLOWED', 'one-way follow is not enough');
    await b.http.follow(a.id);
    assert.equal((await send()).ok, true, 'mutual followers may talk');
    await b.http.setDmPolicy('nobody');
    assert.equal(((await send()) as { code: string }).code, 'E_DM_NOT_ALLOWED', 'nobody means nobody, even in an existing conversation');
    const stranger = await newUser(server, 'dmz');
    await b.http.setDmPolicy('anyone');
    const s1 = await device(stranger.token);
    assert.equal((await s1.emit('dm:send', { toUserId: b.id, text: 'hi', idempotencyKey: randomUUID() })).ok, true, 'anyone');
    const outsider = await s1.emit('dm:send', { conversationId: [a.id, b.id].sort().join('.'), text: 'let me in', idempotencyKey: randomUUID() });
    assert.equal(outsider.ok === false && outsider.code, 'E_CONVERSATION_NOT_FOUND', 'no one writes into a conversation they are not in');
  });

  it('sends typing to the other members only and never stores it', async () => {
    const { a, b } = await friends();
    const [a1, a2, b1] = await Promise.all([device(a.token), device(a.token), device(b.token)]);
    const sent = await a1.ok<{ message: { conversationId: string; seq: number } }>('dm:send', { toUserId: b.id, text: 'typing next', idempotencyKey: randomUUID() });
    const cid = sent.message.conversationId;
    assert.deepEqual(await a1.ok('dm:typing', { conversationId: cid }), { ok: true, sent: true });
    assert.deepEqual(await a1.ok('dm:typing', { conversationId: cid }), { ok: true, sent: false }, 'throttled');
    await eventually(() => b1.typing.length === 1, 'the other member sees typing');
    assert.deepEqual(b1.typing, [{ conversationId: cid, userId: a.id }]);
    await a1.ok('dm:send', { conversationId: cid, text: 'after typing', idempotencyKey: randomUUID() });
    await eventually(() => a2.seqs(cid).length === 2, 'the next message');
    assert.deepEqual(a2.typing, [], 'the typer\'s own devices are not told');
    const conv = await a.http.conversation(cid);
    assert.equal(conv.head, 2, 'typing took no place in the log');
    const history = await a.http.messages(cid);
    assert.deepEqual(history.items.map((e) => e.type === 'message' && e.message.text), ['after typing', 'typing next']);
    const outsider = await device((await newUser(server, 'dmt')).token);
    const refused = await outsider.emit('dm:typing', { conversationId: cid });
    assert.equal(refused.ok === false && refused.code, 'E_CONVERSATION_NOT_FOUND');
  });

  it('deletes for everyone and groups: create, leave, refuse what does not fit', async () => {
    const { a, b } = await friends();
    const c = await newUser(server, 'dmc');
    await c.http.setDmPolicy('anyone');
    const [a1, b1, c1] = await Promise.all([device(a.token), device(b.token), device(c.token)]);
    const g = await a1.ok<{ message: { conversationId: string } }>('dm:send', { memberIds: [b.id, c.id], text: 'group!', idempotencyKey: randomUUID() });
    const gid = g.message.conversationId;
    assert.match(gid, /^g[0-9a-f]{24}$/);
    await c1.ok('dm:send', { conversationId: gid, text: 'oops', idempotencyKey: randomUUID() });
    const del = await c1.ok<{ deleted: boolean }>('dm:delete', { conversationId: gid, seq: 2 });
    assert.equal(del.deleted, true);
    const notMine = await b1.emit('dm:delete', { conversationId: gid, seq: 1 });
    assert.equal(notMine.ok === false && notMine.code, 'E_FORBIDDEN');
    await c1.ok('dm:leave', { conversationId: gid });
    await eventually(() => b1.seqs(gid).length === 4, 'message, message, deleted, left');
    assert.deepEqual(b1.entries.get(gid)!.map((e) => e.type), ['message', 'message', 'deleted', 'left']);
    const after = await c1.emit('dm:send', { conversationId: gid, text: 'back?', idempotencyKey: randomUUID() });
    assert.equal(after.ok === false && after.code, 'E_CONVERSATION_NOT_FOUND');
    const tooMany = await a1.emit('dm:send', { memberIds: range(10, 42).map((n) => `${b.id.slice(0, 11)}${n}`), text: 'x', idempotencyKey: randomUUID() });
    assert.equal(tooMany.ok === false && tooMany.code, 'E_GROUP_FULL', 'DM_GROUP_MAX is 32, the creator included');
    const ghost = await a1.emit('dm:send', { memberIds: [b.id, `${b.id.slice(0, 11)}99`], text: 'x', idempotencyKey: randomUUID() });
    assert.equal(ghost.ok === false && ghost.code, 'E_USER_NOT_FOUND');
    const bad = await a1.emit('dm:send', { toUserId: b.id, idempotencyKey: randomUUID() });
    assert.equal(bad.ok === false && bad.code, 'E_VALIDATION', 'a message without text or video');
    const junk = await a1.emit('dm:sync', { since: -1 });
    assert.equal(junk.ok === false && junk.code, 'E_VALIDATION');
  });

  it('the SDK sends, receives, and catches up by itself after a reconnect', async () => {
    const { a, b } = await friends();
    const alice = await liveClient(server, { token: a.token });
    const bob = await liveClient(server, { token: b.token });
    try {
      const got: number[] = [];
      bob.on('dm', ({ events }) => got.push(...events.map((e) => e.seq)));
      await bob.syncMessages();
      const sent = await alice.sendMessage({ toUserId: b.id, text: 'sdk hi' });
      await eventually(() => got.length === 1, 'bob gets it live');
      bob.socket.disconnect();
      for (let i = 0; i < 20; i++) await alice.sendMessage({ conversationId: sent.message.conversationId, text: `while away ${i}` });
      bob.socket.connect();
      await eventually(() => got.length === 21, 'bob catches up after reconnecting');
      assert.deepEqual(got, range(1, 21));
      assert.equal(bob.seqOf(sent.message.conversationId), 21);
    } finally {
      alice.close();
      bob.close();
    }
  });
});
