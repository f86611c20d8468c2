/**
 * The Store contract's section for conversations (direct messages), run by store.contract.ts
 * against every driver. CONTRACT_LIMITS.dmLogMax is 20, so trimming is reachable.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { directConversationId, type DmEvent } from '../../src/protocol/dm.ts';
import type { ConversationOp, NewMessage, Store } from '../../src/storage/store.ts';

export function conversationsContract(getStore: () => Store, logMax: number): void {
  describe('conversations', () => {
    const ids = new TsidGenerator({ nodeId: 9 });
    const T0 = Date.parse('2026-11-29T12:00:00.000Z');
    const msg = (senderId: string, text: string, extra: Partial<NewMessage> = {}): NewMessage => ({
      senderId,
      createdAt: new Date(T0).toISOString(),
      text,
      ...extra,
    });
    const send = (senderId: string, text: string, key = ids.next(), extra: Partial<NewMessage> = {}): ConversationOp => ({
      type: 'send',
      message: msg(senderId, text, extra),
      idempotencyKey: key,
    });
    const direct = () => {
      const a = ids.next();
      const b = ids.next();
      return { a, b, id: directConversationId(a, b), create: { kind: 'direct' as const, members: [a, b] } };
    };
    const seqs = (events: DmEvent[]) => events.map((e) => e.seq);

    it('creates a conversation on its first batch and numbers its entries 1, 2, 3 in order', async () => {
      const store = getStore();
      const { a, b, id, create } = direct();
      assert.equal(await store.conversations.get(id), null);
      const r = await store.conversations.applyOps(id, [send(a, 'hi'), send(b, 'hello'), send(a, 'how are you')], { now: T0, create });
      assert.deepEqual(seqs(r.events), [1, 2, 3]);
      assert.deepEqual(
        r.results.map((x) => x.ok && x.type === 'send' && x.message.text),
        ['hi', 'hello', 'how are you'],
      );
      assert.equal(r.state.head, 3);
      assert.deepEqual(r.state.members, [a, b]);
      assert.equal(r.state.kind, 'direct');
      assert.equal(r.state.lastMessage?.text, 'how are you');
      assert.equal(r.state.lastMessage?.id, `${id}:3`);
      const got = await store.conversations.get(id);
      assert.deepEqual(got, r.state);
    });

    it('fails without create when the conversation does not exist', async () => {
      const { a, id } = direct();
      await assert.rejects(getStore().conversations.applyOps(id, [send(a, 'x')], { now: T0 }), (e: TremoloError) => e.code === 'E_CONVERSATION_NOT_FOUND');
    });

    it('stores a retried send once (same sender and key) and refuses non-members', async () => {
      const store = getStore();
      const { a, b, id, create } = direct();
      const first = await store.conversations.applyOps(id, [send(a, 'once', 'k1')], { now: T0, create });
      const again = await store.conversations.applyOps(id, [send(a, 'once', 'k1'), send(b, 'other', 'k1'), send(ids.next(), 'intruder')], { now: T0 });
      const [dup, other, intruder] = again.results;
      assert.ok(dup?.ok && dup.type === 'send' && dup.duplicate);
      assert.deepEqual(dup.message, first.results[0]?.ok && first.results[0].type === 'send' ? first.results[0].message : undefined);
      assert.ok(other?.ok && other.type === 'send' && !other.duplicate && other.message.seq === 2);
      assert.deepEqual(intruder, { ok: false, code: 'E_CONVERSATION_NOT_FOUND' });
      assert.equal(again.state.head, 2);
    });

    it('counts unread per member and moves receipts forward only', async () => {
      const store = getStore();
      const { a, b, id, create } = direct();
      await store.conversations.applyOps(id, [send(a, '1'), send(a, '2'), send(a, '3')], { now: T0, create });
      let st = await store.conversations.get(id);
      assert.deepEqual(
        st?.memberStates.map((m) => [m.userId, m.delivered, m.read, m.unread]),
        [
          [a, 3, 3, 0],
          [b, 0, 0, 3],
        ],
      );
      const r = await store.conversations.applyOps(
        id,
        [
          { type: 'receipt', userId: b, delivered: 3 },
          { type: 'receipt', userId: b, read: 2 },
          { type: 'receipt', userId: b, read: 1 },
          { type: 'receipt', userId: b, read: 99 },
        ],
        { now: T0 },
      );
      assert.deepEqual(
        r.results.map((x) => x.ok && x.type === 'receipt' && [x.member.delivered, x.member.read, x.member.unread, x.changed]),
        [
          [3, 0, 3, true],
          [3, 2, 1, true],
          [3, 2, 1, false],
          [3, 3, 0, true],
        ],
      );
      assert.deepEqual(r.events, [], 'receipts are state, not log entries');
      st = await store.conversations.get(id);
      assert.equal(st?.head, 3);
    });

    it('deletes for everyone: only the sender, only within the window, as a log entry', async () => {
      const store = getStore();
      const { a, b, id, create } = direct();
      await store.conversations.applyOps(id, [send(a, 'secret'), send(a, 'keep')], { now: T0, create });
      const r = await store.conversations.applyOps(
        id,
        [
          { type: 'delete', userId: b, messageSeq: 1, notBefore: T0 - 1000 },
          { type: 'delete', userId: a, messageSeq: 1, notBefore: T0 + 1 },
          { type: 'delete', userId: a, messageSeq: 1, notBefore: T0 - 1000 },
          { type: 'delete', userId: a, messageSeq: 1, notBefore: T0 - 1000 },
          { type: 'delete', userId: a, messageSeq: 42, notBefore: T0 - 1000 },
        ],
        { now: T0 },
      );
      assert.deepEqual(
        r.results.map((x) => (x.ok ? x.type === 'delete' && x.deleted : x.code)),
        ['E_FORBIDDEN', 'E_DM_DELETE_EXPIRED', true, false, 'E_MESSAGE_NOT_FOUND'],
      );
      assert.deepEqual(r.events, [{ type: 'deleted', seq: 3, messageSeq: 1, userId: a }]);
      const range = await store.conversations.events(id, 0, 10);
      const first = range.events[0];
      assert.ok(first?.type === 'message' && first.message.deleted === true && first.message.text === '');
      const st = await store.conversations.get(id);
      assert.equal(st?.memberStates.find((m) => m.userId === b)?.unread, 1, 'a deleted unread message is no longer unread');
      assert.equal(st?.lastMessage?.text, 'keep');
    });

    it('refuses a reply to a message that is not in the log', async () => {
      const store = getStore();
      const { a, b, id, create } = direct();
      const r = await store.conversations.applyOps(id, [send(a, 'q'), send(b, 'a', undefined, { replyTo: 1 }), send(b, 'x', undefined, { replyTo: 7 })], { now: T0, create });
      assert.ok(r.results[1]?.ok && r.results[1].type === 'send' && r.results[1].message.replyTo === 1);
      assert.deepEqual(r.results[2], { ok: false, code: 'E_REPLY_TARGET' });
    });

    it('reads the log after a seq, reports whether it reaches back, and pages history newest first', async () => {
      const store = getStore();
      const { a, id, create } = direct();
      const n = logMax + 5;
      for (let i = 1; i <= n; i++) await store.conversations.applyOps(id, [send(a, `m${i}`)], { now: T0, create });
      const tail = await store.conversations.events(id, n - 3, 100);
      assert.equal(tail.complete, true);
      assert.deepEqual(seqs(tail.events), [n - 2, n - 1, n]);
      const limited = await store.conversations.events(id, n - logMax, 2);
      assert.equal(limited.complete, true);
      assert.deepEqual(seqs(limited.events), [n - logMax + 1, n - logMax + 2]);
      const gone = await store.conversations.events(id, 1, 100);
      assert.equal(gone.complete, false);
      assert.deepEqual(gone.events, []);
      assert.equal(gone.head, n);
      assert.equal((await store.conversations.events(id, n + 1, 10)).complete, false, 'a seq ahead of the head is not complete');
      assert.deepEqual(seqs(await store.conversations.history(id, undefined, 3)), [n, n - 1, n - 2]);
      assert.deepEqual(seqs(await store.conversations.history(id, n - 2, 2)), [n - 3, n - 4]);
      assert.equal((await store.conversations.history(id, undefined, 1000)).length, logMax);
    });

    it('lets a member leave a group (not a direct conversation) and keeps them out', async () => {
      const store = getStore();
      const [a, b, c] = [ids.next(), ids.next(), ids.next()];
      const id = `g${ids.next().toLowerCase().padEnd(24, '0').slice(0, 24)}`;
      await store.conversations.applyOps(id, [send(a, 'welcome')], { now: T0, create: { kind: 'group', members: [a, b, c, b] } });
      const r = await store.conversations.applyOps(id, [{ type: 'leave', userId: c }, send(c, 'still here?')], { now: T0 + 5 });
      assert.deepEqual(r.results[0], { ok: true, type: 'leave', changed: true });
      assert.deepEqual(r.results[1], { ok: false, code: 'E_CONVERSATION_NOT_FOUND' });
      assert.deepEqual(r.events, [{ type: 'left', seq: 2, userId: c }]);
      assert.deepEqual(r.departed, [c]);
      assert.deepEqual(r.state.members, [a, b]);
      const d = direct();
      const refused = await store.conversations.applyOps(d.id, [{ type: 'leave', userId: d.a }], { now: T0, create: d.create });
      assert.deepEqual(refused.results[0], { ok: false, code: 'E_FORBIDDEN' });
    });

    it('mutes per member', async () => {
      const store = getStore();
      const { a, b, id, create } = direct();
      const r = await store.conversations.applyOps(id, [{ type: 'mute', userId: b, muted: true }], { now: T0, create });
      assert.ok(r.results[0]?.ok && r.results[0].type === 'mute' && r.results[0].member.muted);
      assert.deepEqual(
        (await store.conversations.get(id))?.memberStates.map((m) => [m.userId, m.muted]),
        [
          [a, false],
          [b, true],
        ],
      );
    });

    it('indexes a user\'s conversations by last activity, never moving one back', async () => {
      const store = getStore();
      const u = ids.next();
      const [c1, c2, c3] = [direct().id, direct().id, direct().id];
      await store.conversations.touch([u], c1, 100);
      await store.conversations.touch([u], c2, 300);
      await store.conversations.touch([u], c3, 200);
      await store.conversations.touch([u], c2, 150);
      assert.deepEqual(await store.conversations.inbox(u, undefined, 10), [
        { conversationId: c2, activity: 300 },
        { conversationId: c3, activity: 200 },
        { conversationId: c1, activity: 100 },
      ]);
      assert.deepEqual(await store.conversations.inbox(u, 300, 1), [{ conversationId: c3, activity: 200 }]);
      assert.deepEqual(await store.conversations.changedSince(u, 200, 10), [
        { conversationId: c3, activity: 200 },
        { conversationId: c2, activity: 300 },
      ]);
      await store.conversations.untouch(u, c3);
      assert.deepEqual((await store.conversations.inbox(u, undefined, 10)).map((e) => e.conversationId), [c2, c1]);
    });

    it('keeps a DM policy per user, mutual by default', async () => {
      const store = getStore();
      const u = ids.next();
      assert.equal(await store.conversations.policy(u), 'mutual');
      await store.conversations.setPolicy(u, 'nobody');
      assert.equal(await store.conversations.policy(u), 'nobody');
      await store.conversations.setPolicy(u, 'anyone');
      assert.equal(await store.conversations.policy(u), 'anyone');
    });
  });
}
