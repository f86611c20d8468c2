/**
 * Who may message whom, and what a message's text becomes: the two rules other features feed
 * into direct messages, each behind one function with one call site (conversations.ts for the
 * text, conversation-actor.ts for the predicate, checked once per batch).
 *
 * - Blocks always win: if either user blocks the other, nothing goes through (E_BLOCKED).
 * - Otherwise the recipient's DM policy decides: `anyone`; `mutual` (the default: each follows
 *   the other); `nobody` (E_DM_NOT_ALLOWED).
 */
import { TremoloError } from '../protocol/errors.ts';
import type { ContentFilter } from '../domain/moderation.ts';
import type { Store } from '../storage/store.ts';

/** Whether either user blocks the other (the blocks of the social features). */
export async function isEitherBlocking(store: Store, a: string, b: string): Promise<boolean> {
  const [ab, ba] = await Promise.all([store.blocks.blocks(a, b), store.blocks.blocks(b, a)]);
  return ab || ba;
}

/**
 * A message's text after the sensitive-word filter (the one applied to comments): masked, or
 * E_CONTENT_REJECTED naming `text`. Without a filter configured, the text as is.
 */
export function filterDmText(text: string, filter: ContentFilter | undefined): string {
  return filter ? filter.check('text', text) : text;
}

/**
 * The one predicate: resolves when `senderId` may message `recipientId`, else rejects with
 * E_BLOCKED or E_DM_NOT_ALLOWED.
 */
export async function requireMayMessage(store: Store, senderId: string, recipientId: string): Promise<void> {
  if (senderId === recipientId) return;
  // the policy is read beside the blocks (one round trip, not two); blocks still win
  const [blocked, policy] = await Promise.all([isEitherBlocking(store, senderId, recipientId), store.conversations.policy(recipientId)]);
  if (blocked) throw new TremoloError('E_BLOCKED');
  if (policy === 'anyone') return;
  if (policy === 'nobody') throw new TremoloError('E_DM_NOT_ALLOWED');
  const [out, back] = await Promise.all([store.users.isFollowing(senderId, recipientId), store.users.isFollowing(recipientId, senderId)]);
  if (!out || !back) throw new TremoloError('E_DM_NOT_ALLOWED', 'You can message this user once you follow each other');
}
