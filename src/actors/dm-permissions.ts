/**
 * Who may message whom, and what a message's text becomes: the two rules other features feed
 * into direct messages, each behind one function with one call site (conversations.ts).
 *
 * - Blocks always win: if either user blocks the other, nothing goes through (E_BLOCKED).
 * - Otherwise the recipient's DM policy decides: `anyone`; `mutual` (the default: each follows
 *   the other); `nobody` (E_DM_NOT_ALLOWED).
 */
import { TremoloError } from '../protocol/errors.ts';
import type { Store } from '../storage/store.ts';

/**
 * MERGE POINT (blocks, branch social-b): whether either user blocks the other. Until the
 * Store has blocks this answers false; at merge it becomes the blocks Store method, e.g.
 * `store.blocks.eitherBlocks(a, b)`. Nothing else in direct messages looks at blocks.
 */
export async function isEitherBlocking(_store: Store, _a: string, _b: string): Promise<boolean> {
  return false;
}

/**
 * MERGE POINT (moderation, branch social-b): the sensitive-word filter applied to every
 * message's text before it is stored. Until the moderation filter exists in src/domain this
 * returns the text unchanged; at merge it calls that filter (masking, or throwing its catalog
 * error to refuse the message).
 */
export function filterDmText(text: string): string {
  return text;
}

/**
 * The one predicate: resolves when `senderId` may message `recipientId`, else rejects with
 * E_BLOCKED or E_DM_NOT_ALLOWED.
 */
export async function requireMayMessage(store: Store, senderId: string, recipientId: string): Promise<void> {
  if (senderId === recipientId) return;
  if (await isEitherBlocking(store, senderId, recipientId)) throw new TremoloError('E_BLOCKED');
  const policy = await store.conversations.policy(recipientId);
  if (policy === 'anyone') return;
  if (policy === 'nobody') throw new TremoloError('E_DM_NOT_ALLOWED');
  const [out, back] = await Promise.all([store.users.isFollowing(senderId, recipientId), store.users.isFollowing(recipientId, senderId)]);
  if (!out || !back) throw new TremoloError('E_DM_NOT_ALLOWED', 'You can message this user once you follow each other');
}
