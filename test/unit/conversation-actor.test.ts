/**
 * The ConversationActor checks who may message whom once per sender and recipient in a turn
 * (not once per message), and a refusal answers only the sends it concerns.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { directConversationId } from '../../src/protocol/dm.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { testEngine } from '../helpers/engine.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };

async function scene() {
  const store = new MemoryStore(LIMITS);
  const { engine } = testEngine(store);
  const alice = await engine.createUser({ handle: `ca${randomUUID().slice(0, 8)}`, passwordHash: 'x' });
  const bob = await engine.createUser({ handle: `cb${randomUUID().slice(0, 8)}`, passwordHash: 'x' });
  let policyReads = 0;
  const policy = store.conversations.policy.bind(store.conversations);
  store.conversations.policy = (userId) => {
    policyReads++;
    return policy(userId);
  };
  return { store, engine, alice: alice.id, bob: bob.id, reads: () => policyReads };
}

describe('ConversationActor: permission per batch', () => {
  it('checks the predicate once per sender and recipient in a turn, not once per message', async () => {
    const { store, engine, alice, bob, reads } = await scene();
    await store.conversations.setPolicy(bob, 'anyone');
    await engine.dm.send(alice, { toUserId: bob, text: 'first', idempotencyKey: randomUUID() });
    const before = reads();
    const conversationId = directConversationId(alice, bob);
    // sent together: the first turn takes one, the rest queue behind its write and form one batch
    const sends = await Promise.all(Array.from({ length: 20 }, (_, i) => engine.dm.send(alice, { conversationId, text: `m${i}`, idempotencyKey: randomUUID() })));
    assert.deepEqual(sends.map((s) => s.message.text), Array.from({ length: 20 }, (_, i) => `m${i}`));
    assert.ok(reads() - before <= 2, `${reads() - before} policy reads for 20 sends`);
  });

  it('refuses only the sends the predicate refuses, in the same turn as the others', async () => {
    const { store, engine, alice, bob } = await scene();
    await store.conversations.setPolicy(bob, 'anyone');
    await store.conversations.setPolicy(alice, 'anyone');
    await engine.dm.send(alice, { toUserId: bob, text: 'first', idempotencyKey: randomUUID() });
    await store.conversations.setPolicy(bob, 'nobody');
    const conversationId = directConversationId(alice, bob);
    const [fromAlice, fromBob] = await Promise.allSettled([
      engine.dm.send(alice, { conversationId, text: 'refused', idempotencyKey: randomUUID() }),
      engine.dm.send(bob, { conversationId, text: 'allowed', idempotencyKey: randomUUID() }),
    ]);
    assert.equal(fromAlice.status, 'rejected');
    assert.ok(fromAlice.status === 'rejected' && fromAlice.reason instanceof TremoloError && fromAlice.reason.code === 'E_DM_NOT_ALLOWED');
    assert.equal(fromBob.status === 'fulfilled' && fromBob.value.message.text, 'allowed');
    const history = await engine.dm.history(bob, conversationId, { limit: 10 });
    assert.deepEqual(history.items.map((e) => (e.type === 'message' ? e.message.text : e.type)), ['allowed', 'first']);
  });
});
