/**
 * The load tester's delivery probe decides what counts as a gap: a comment that never reached
 * a socket which watched its video from the ack on. A socket that swiped away (and perhaps came
 * back, starting from a fresh snapshot) is owed nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryProbe } from '../../src/loadtest/delivery.ts';
import { ShardStats } from '../../src/loadtest/stats.ts';

/** A probe over a mutable map of watchers: video id -> (socket id -> account). */
function probe() {
  const watching = new Map<string, Map<number, number>>();
  /** socket id -> the log offset of the snapshot its watch started from */
  const from = new Map<number, number>();
  const stats = new ShardStats();
  const p = new DeliveryProbe(stats, { of: (v) => watching.get(v), from: (client) => from.get(client) }, 1000);
  return { p, stats, watching, from, missed: () => stats.drain().counters['delivery.commentMissed'] ?? 0 };
}

describe('loadtest delivery probe', () => {
  it('counts a comment never delivered to a socket that kept watching as missed, and one delivered late as not', () => {
    const { p, watching, missed } = probe();
    watching.set('v', new Map([[1, 10], [2, 11], [3, 12]]));
    p.commentAcked('c1', 'v', 10, 0);
    assert.equal(p.awaited(), 2); // the author's own socket is not waited for
    p.comment(2, 'c1', true, 900);
    assert.equal(p.awaited(), 1);
    p.sweep(1000);
    assert.equal(missed(), 1);
    assert.equal(p.awaited(), 0);
  });

  it('owes nothing to a socket that stopped watching, even when it watches the video again', () => {
    const { p, watching, missed } = probe();
    watching.set('v', new Map([[1, 10], [2, 11]]));
    p.commentAcked('c1', 'v', 10, 0);
    watching.get('v')!.delete(2);
    p.left(2, 'v');
    watching.get('v')!.set(2, 11); // back, from a snapshot that already holds c1
    assert.equal(p.awaited(), 0);
    p.sweep(5000);
    assert.equal(missed(), 0);
  });

  it('owes nothing to a socket whose watch snapshot already held the comment, though the comment was acknowledged after the watch', () => {
    const { p, watching, from, missed } = probe();
    watching.set('v', new Map([[1, 10], [2, 11], [3, 12]]));
    from.set(2, 7); // answered after the comment (offset 7) was committed: it is in the snapshot
    from.set(3, 6); // answered before: the comment is owed as an event
    p.commentAcked('c1', 'v', 10, 0, 7);
    assert.equal(p.awaited(), 1);
    p.sweep(5000);
    assert.equal(missed(), 1, 'only the socket whose snapshot was older');
  });
});
