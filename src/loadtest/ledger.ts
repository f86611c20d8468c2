/**
 * What the server acknowledged, kept by the shard that sent it, so the run can end by
 * checking that the server's final state holds exactly that: no acknowledged write
 * lost, none applied twice.
 *
 * Likes: one virtual user at a time acts on an (account, video) pair (the shard
 * serialises them), so the last acknowledged op decides the pair's final state. An op
 * whose outcome is unknown (no ack: timeout, disconnect) leaves the pair `uncertain`
 * until a later acknowledged op settles it again.
 * Comments: every acknowledged id, with the idempotency key it was sent under; the key
 * is also written into the text, so a key stored twice shows up in the comment list.
 * Comment likes: as likes, per (account, comment); a reply keeps the thread it was filed under.
 */
export type LikeState = 'liked' | 'unliked' | 'uncertain';

export interface AckedComment {
  id: string;
  videoId: string;
  key: string;
  /** For a reply: the thread the server filed it under. */
  threadId?: string;
}

export interface LedgerSnapshot {
  /** [account index, video index, state] for every pair the shard touched. */
  likes: [number, number, LikeState][];
  comments: AckedComment[];
  /** [account index, comment id, state] for every (account, comment) like pair the shard touched. */
  commentLikes: [number, string, LikeState][];
  /** Re-sends of an acknowledged key whose ack named another comment or did not say duplicate. */
  resendMismatches: number;
}

/** The marker written into every comment text: `[lt:<key>]`. */
export const commentMarker = (key: string) => `[lt:${key}]`;
export const MARKER_PATTERN = /\[lt:([^\]]+)\]/;

export class WriteLedger {
  private readonly likes = new Map<string, LikeState>();
  /** `${account}|${commentId}` -> state, as for video likes. */
  private readonly commentLikes = new Map<string, LikeState>();
  private readonly comments: AckedComment[] = [];
  private readonly commentByKey = new Map<string, string>();
  resendMismatches = 0;

  likeState(account: number, video: number): LikeState | undefined {
    return this.likes.get(`${account}:${video}`);
  }

  settleLike(account: number, video: number, liked: boolean): void {
    this.likes.set(`${account}:${video}`, liked ? 'liked' : 'unliked');
  }

  unsettleLike(account: number, video: number): void {
    this.likes.set(`${account}:${video}`, 'uncertain');
  }

  commentLikeState(account: number, commentId: string): LikeState | undefined {
    return this.commentLikes.get(`${account}|${commentId}`);
  }

  settleCommentLike(account: number, commentId: string, liked: boolean): void {
    this.commentLikes.set(`${account}|${commentId}`, liked ? 'liked' : 'unliked');
  }

  unsettleCommentLike(account: number, commentId: string): void {
    this.commentLikes.set(`${account}|${commentId}`, 'uncertain');
  }

  ackComment(c: AckedComment): void {
    const known = this.commentByKey.get(c.key);
    if (known !== undefined) return; // a retry of an acknowledged key: checked by checkResend
    this.commentByKey.set(c.key, c.id);
    this.comments.push(c);
  }

  /** A deliberate re-send of an acknowledged key must name the same comment and say duplicate. */
  checkResend(key: string, id: string, duplicate: boolean): void {
    if (this.commentByKey.get(key) !== id || !duplicate) this.resendMismatches++;
  }

  snapshot(): LedgerSnapshot {
    const likes: [number, number, LikeState][] = [];
    for (const [pair, state] of this.likes) {
      const [a, v] = pair.split(':').map(Number);
      likes.push([a ?? 0, v ?? 0, state]);
    }
    const commentLikes: [number, string, LikeState][] = [];
    for (const [pair, state] of this.commentLikes) {
      const i = pair.indexOf('|');
      commentLikes.push([Number(pair.slice(0, i)), pair.slice(i + 1), state]);
    }
    return { likes, commentLikes, comments: this.comments, resendMismatches: this.resendMismatches };
  }
}
