/**
 * Comment threads on Redis: listings read the thread index, comment likes and `top` ranking
 * that video-apply-14.lua writes (comment-threads-6.lua, comment-replies-5.lua). A `top`
 * ranking is frozen into a list key with a TTL on the first page, so later pages read the
 * same order however likes change meanwhile.
 */
import { randomUUID } from 'node:crypto';
import type { Comment, CommentView, Page } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { decodeTopCursor, encodeTopCursor } from '../memory/comments.ts';
import { COMMENT_TOP_DEFAULTS, type CommentThreadStore, type ThreadOrder, type ThreadPageRequest } from '../store.ts';
import { asArray, type RedisContext } from './context.ts';
import { io, isScriptFailure, scriptFailure } from './scripts.ts';

type WireView = [string, number, number, number];

export class RedisCommentThreads implements CommentThreadStore {
  constructor(private readonly ctx: RedisContext) {}

  async threads(videoId: string, order: ThreadOrder, page: ThreadPageRequest, _opts: { now: number }): Promise<Page<CommentView>> {
    const { keys, scripts, limits } = this.ctx;
    const first = page.cursor === undefined || page.cursor === '';
    let position = '';
    let token: string = randomUUID();
    if (order === 'newest') position = decodeCursor(page.cursor) ?? '';
    else if (!first) {
      const top = decodeTopCursor(page.cursor);
      token = top.token;
      position = String(top.offset);
    } else position = '0';
    const k = keys.video(videoId);
    const ck = keys.comments(videoId);
    const reply = await scripts.run('comment-threads', [k.meta, k.comments, ck.threads, ck.likes, ck.top, keys.commentTopSnapshot(videoId, token)], [
      order,
      position,
      order === 'newest' ? page.limit + 1 : page.limit,
      page.viewerId ?? '',
      first ? '1' : '0',
      (limits.commentTopSnapshotS ?? COMMENT_TOP_DEFAULTS.commentTopSnapshotS) * 1000,
      limits.commentTopMax ?? COMMENT_TOP_DEFAULTS.commentTopMax,
    ]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const [lead, rawViews, more] = reply as [WireView | 0, WireView[], number];
    const views = asArray(rawViews).map((v) => view(v as WireView));
    const leading = lead === 0 ? [] : [{ ...view(lead), pinned: true }];
    if (order === 'newest') {
      const rest = pageOf(views, page.limit, (c) => c.id);
      return { ...rest, items: [...leading, ...rest.items] };
    }
    const offset = Number(position);
    return { items: [...leading, ...views], ...(more === 1 ? { nextCursor: encodeTopCursor(token, offset + page.limit) } : {}) };
  }

  async replies(videoId: string, threadId: string, page: ThreadPageRequest): Promise<Page<CommentView>> {
    const { keys, scripts } = this.ctx;
    const after = decodeCursor(page.cursor) ?? '';
    const k = keys.video(videoId);
    const ck = keys.comments(videoId);
    const reply = await scripts.run('comment-replies', [k.meta, k.comments, ck.info, ck.threads, ck.likes], [threadId, after, page.limit + 1, page.viewerId ?? '']);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    return pageOf(
      asArray(reply).map((v) => view(v as WireView)),
      page.limit,
      (c) => c.id,
    );
  }

  async pinned(videoId: string): Promise<string | null> {
    const { client, keys } = this.ctx;
    const [owner, pinned] = await io(() => client.hmget(keys.video(videoId).meta, 'owner', 'pinned'));
    if (owner === null || owner === undefined) throw scriptFailure(-1);
    return pinned ?? null;
  }
}

function view([json, likes, replies, mine]: WireView): CommentView {
  const comment = JSON.parse(json) as Comment;
  return { ...comment, likes, replies, ...(mine >= 0 ? { likedByMe: mine === 1 } : {}) };
}
