/**
 * One video of the feed: the player, its live counters, like and favorite buttons, the
 * comment threads (top-level comments arriving live, in order, each once; replies under
 * their thread behind "view N replies"; per-comment likes with live counts; the owner's
 * pin) with a box to comment or reply, and the author's follow button.
 * The card only renders; the feed routes the SDK's events to it by video id.
 */
import type { Comment, CommentView, Counters, Video, VideoSnapshotPayload } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { ago, compact, h, icon, messageOf, tagLabel } from './dom.ts';
import { analyticsPanel } from './analytics-chart.ts';
import { Player } from './player.ts';
import { WatchReporter } from './watch-reporter.ts';

export class VideoCard {
  readonly el: HTMLElement;
  readonly player: Player;
  /** Comment events applied, for diagnostics: the page shows each comment once. */
  commentEvents = 0;
  #counters: Counters;
  #liked: boolean;
  #likeBusy = false;
  #pending: { text: string; key: string } | undefined;
  readonly #comments = new Map<string, HTMLLIElement>();
  /** Per shown comment: its like count and whether I like it, its reply count (top-level). */
  readonly #meta = new Map<string, { likes: number; liked: boolean; replies: number; busy: boolean }>();
  /** Threads whose replies are open, with the cursor of the next page (null: all shown). */
  readonly #openThreads = new Map<string, string | null>();
  /** Replies already counted into their thread's count (the ack and the live event are one reply). */
  readonly #countedReplies = new Set<string>();
  #order: 'newest' | 'top' = 'newest';
  #replyTo: Comment | undefined;
  #pinned: string | null = null;
  #favorited = false;
  #favorites = 0;
  readonly #favoriteButton: HTMLButtonElement;
  readonly #favoriteCount: HTMLElement;
  readonly #input: HTMLInputElement;
  readonly #replyNote: HTMLElement;
  readonly #likeButton: HTMLButtonElement;
  readonly #likeCount: HTMLElement;
  readonly #commentCount: HTMLElement;
  readonly #viewCount: HTMLElement;
  readonly #commentList: HTMLUListElement;
  readonly #followButton: HTMLButtonElement | undefined;
  readonly #blockButton: HTMLButtonElement | undefined;
  readonly #messageButton: HTMLButtonElement | undefined;
  readonly #error: HTMLElement;
  readonly #unsubscribe: () => void;
  readonly #watching: WatchReporter;

  constructor(
    private readonly ctx: AppContext,
    readonly video: Video,
  ) {
    this.#counters = video.counters;
    this.#liked = video.likedByMe ?? false;

    const videoEl = h('video', { class: 'player', 'aria-label': video.title });
    this.player = new Player(videoEl, async () => (await ctx.http.getVideo(video.id)).media);
    this.player.load(video.media);
    this.#watching = new WatchReporter(ctx.live, video.id, videoEl);

    this.#likeCount = h('span', { class: 'count' });
    this.#likeButton = h('button', { class: 'rail-button like', type: 'button', 'aria-label': 'Like', onclick: () => void this.#toggleLike() }, h('span', { class: 'icon' }, icon('heart')), this.#likeCount);
    this.#favoriteCount = h('span', { class: 'count' }, '0');
    this.#favoriteButton = h(
      'button',
      { class: 'rail-button favorite', type: 'button', 'aria-label': 'Favorite', 'aria-pressed': 'false', onclick: () => void this.#toggleFavorite() },
      h('span', { class: 'icon' }, icon('bookmark')),
      this.#favoriteCount,
    );
    this.#commentCount = h('span', { class: 'count' });
    this.#viewCount = h('span', { class: 'count' });

    const own = video.ownerId === ctx.me.id;
    if (!own) {
      this.#followButton = h('button', { class: 'follow', type: 'button', onclick: () => void this.#toggleFollow() });
      this.#blockButton = h('button', { class: 'block link', type: 'button', onclick: () => void this.#toggleBlock() });
      this.#messageButton = h('button', { class: 'message-author link', type: 'button', onclick: () => ctx.messageUser(video.ownerId) }, 'Message');
    }
    const authorName = h('span', { class: 'handle' });
    ctx.people.label(authorName, video.ownerId);
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    ctx.people.initial(avatar, video.ownerId);
    const captionName = h('span', { class: 'handle' });
    ctx.people.label(captionName, video.ownerId);

    this.#commentList = h('ul', { class: 'comments', 'aria-live': 'polite', 'data-empty': 'No comments yet. Say something nice.' });
    const input = h('input', { name: 'text', placeholder: 'Add a comment…', maxlength: 500, autocomplete: 'off', 'aria-label': 'Comment' });
    this.#input = input;
    this.#replyNote = h('p', { class: 'reply-note', hidden: true });
    this.#error = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'comment-box' }, input, h('button', { type: 'submit' }, 'Post'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#postComment(input);
    });
    const orderButtons = (['newest', 'top'] as const).map((order) =>
      h('button', { type: 'button', class: `tab${order === 'newest' ? ' on' : ''}`, 'data-order': order, onclick: () => void this.#setOrder(order) }, order === 'newest' ? 'Newest' : 'Top'),
    );
    const orderBar = h('div', { class: 'comment-order' }, ...orderButtons);

    const tags = video.tagging?.tags ?? [];
    this.el = h(
      'article',
      { class: 'card', 'data-video-id': video.id },
      h(
        'div',
        { class: 'stage' },
        videoEl,
        h('div', { class: 'caption' }, captionName, h('p', {}, video.title), ...reasonLine(video)),
        h(
          'div',
          { class: 'rail' },
          this.#likeButton,
          this.#favoriteButton,
          h('div', { class: 'rail-stat', title: 'Comments' }, h('span', { class: 'icon' }, icon('comment')), this.#commentCount),
          h('div', { class: 'rail-stat', title: 'Views' }, h('span', { class: 'icon' }, icon('play')), this.#viewCount),
        ),
      ),
      h(
        'aside',
        { class: 'panel' },
        h('div', { class: 'author' }, avatar, h('div', { class: 'byline' }, authorName, h('time', { datetime: video.createdAt }, ago(video.createdAt))), this.#followButton, this.#messageButton, this.#blockButton),
        h('h2', {}, video.title),
        video.description ? h('p', { class: 'description' }, video.description) : null,
        tags.length ? h('ul', { class: 'tags' }, ...tags.map((t) => h('li', {}, tagLabel(t)))) : null,
        this.player.source ? null : h('p', { class: 'muted' }, 'This video is still being processed.'),
        own ? analyticsPanel(ctx.http, video.id) : null,
        h('h3', {}, 'Comments'),
        h('h3', {}, 'Comments', orderBar),
        this.#commentList,
        this.#error,
        this.#replyNote,
        form,
      ),
    );

    this.#unsubscribe = ctx.people.onFollowChange((userId) => {
      if (userId === video.ownerId) this.#renderFollow();
    });
    this.#renderCounters();
    this.#renderFollow();
    void this.#loadFavorite();
  }

  /** The watch snapshot: state as of its offset; events after it arrive through the SDK. */
  onSnapshot(snapshot: VideoSnapshotPayload, replace = false): void {
    if (replace) {
      this.#comments.clear();
      this.#commentList.replaceChildren();
    }
    this.#liked = snapshot.likedByMe;
    this.onCounters(snapshot.counters);
    for (const c of snapshot.latestComments) this.#insertComment(c);
    void this.#loadThreads();
  }

  /** A comment's like count changed (coalesced live update). */
  onCommentLikes(commentId: string, likes: number): void {
    const m = this.#meta.get(commentId);
    if (!m || m.busy) return;
    m.likes = likes;
    this.#renderComment(commentId);
  }

  onPinned(commentId: string | null): void {
    this.#pinned = commentId;
    for (const id of this.#comments.keys()) this.#renderComment(id);
    if (commentId !== null && this.#order === 'newest') {
      const li = this.#comments.get(commentId);
      if (li && li.parentElement === this.#commentList) this.#commentList.prepend(li);
    }
  }

  onCounters(c: Counters): void {
    if (c.version < this.#counters.version) return;
    this.#counters = { likes: c.likes, comments: c.comments, views: c.views, version: c.version };
    this.#renderCounters();
  }

  onComment(c: Comment): void {
    this.commentEvents++;
    this.el.dataset.commentEvents = String(this.commentEvents);
    this.#insertComment(c);
  }

  onCommentDeleted(commentId: string): void {
    this.#comments.get(commentId)?.remove();
    this.#comments.delete(commentId);
    this.#meta.delete(commentId);
  }

  setActive(active: boolean): void {
    this.el.classList.toggle('active', active);
    if (active) {
      this.player.play();
      this.#watching.start();
    } else {
      this.player.pause();
      this.#watching.stop();
    }
  }

  destroy(): void {
    this.#unsubscribe();
    this.#watching.stop();
    this.player.destroy();
    this.el.remove();
  }

  /**
   * Shows a comment once. Top-level comments keep the list in id order (ids are time-ordered)
   * in `newest` mode, or join the end in `top` mode; a reply goes under its thread when that
   * thread is open, else it only counts there.
   */
  #insertComment(c: Comment | CommentView): void {
    const view = 'likes' in c ? c : undefined;
    const known = this.#meta.get(c.id);
    if (view) {
      this.#meta.set(c.id, { likes: view.likes, liked: view.likedByMe ?? false, replies: view.replies, busy: known?.busy ?? false });
      if (view.pinned) this.#pinned = c.id;
    }
    if (this.#comments.has(c.id)) {
      this.#renderComment(c.id);
      return;
    }
    if (c.threadId !== undefined) {
      const thread = this.#comments.get(c.threadId);
      const sub = thread?.querySelector<HTMLUListElement>(':scope > .replies');
      if (!view && !this.#countedReplies.has(c.id)) {
        const t = this.#meta.get(c.threadId);
        if (t) t.replies++;
        this.#renderComment(c.threadId);
      }
      this.#countedReplies.add(c.id);
      if (!sub || !this.#openThreads.has(c.threadId)) return;
      const li = this.#commentItem(c);
      const after = [...sub.children].find((el) => ((el as HTMLElement).dataset.commentId ?? '') > c.id) ?? null;
      sub.insertBefore(li, after);
      return;
    }
    const li = this.#commentItem(c);
    if (this.#order === 'top') this.#commentList.append(li);
    else {
      const tops = [...this.#comments.entries()].filter(([id, el]) => id < c.id && el.parentElement === this.#commentList && id !== this.#pinned);
      const after = tops.map(([id]) => id).sort().at(-1);
      const next = after === undefined ? this.#commentList.firstChild : (this.#comments.get(after)?.nextSibling ?? null);
      this.#commentList.insertBefore(li, next);
      this.#commentList.scrollTop = this.#commentList.scrollHeight;
    }
  }

  /** One comment's row: who, text, time, its like button, reply (and pin, for the owner). */
  #commentItem(c: Comment): HTMLLIElement {
    if (!this.#meta.has(c.id)) this.#meta.set(c.id, { likes: 0, liked: false, replies: 0, busy: false });
    const who = h('span', { class: 'who' });
    this.ctx.people.label(who, c.authorId);
    const to = h('span', { class: 'reply-to' });
    if (c.replyToUserId !== undefined && c.replyTo !== c.threadId) {
      to.append('↪ ');
      const name = h('span', {});
      this.ctx.people.label(name, c.replyToUserId);
      to.append(name, ' ');
    }
    const actions = h(
      'div',
      { class: 'comment-actions' },
      h('button', { type: 'button', class: 'comment-like', 'aria-pressed': 'false', onclick: () => void this.#toggleCommentLike(c.id) }, icon('heart'), h('span', { class: 'n' }, '0')),
      h('button', { type: 'button', class: 'comment-reply', onclick: () => this.#startReply(c) }, 'Reply'),
      this.video.ownerId === this.ctx.me.id && c.threadId === undefined
        ? h('button', { type: 'button', class: 'comment-pin', onclick: () => void this.#togglePin(c.id) }, 'Pin')
        : null,
      c.threadId === undefined ? h('button', { type: 'button', class: 'view-replies', hidden: true, onclick: () => void this.#loadReplies(c.id) }) : null,
    );
    const li = h(
      'li',
      { class: c.threadId === undefined ? 'comment' : 'comment reply', 'data-comment-id': c.id },
      who,
      h('span', { class: 'text' }, to, c.text),
      h('time', { datetime: c.createdAt }, ago(c.createdAt)),
      actions,
      c.threadId === undefined ? h('ul', { class: 'replies' }) : null,
    );
    this.#comments.set(c.id, li);
    // rendered once it is in place (the count may be known already)
    queueMicrotask(() => this.#renderComment(c.id));
    return li;
  }

  #renderComment(id: string): void {
    const li = this.#comments.get(id);
    const m = this.#meta.get(id);
    if (!li || !m) return;
    const like = li.querySelector<HTMLButtonElement>(':scope > .comment-actions > .comment-like');
    if (like) {
      like.classList.toggle('liked', m.liked);
      like.setAttribute('aria-pressed', String(m.liked));
      like.querySelector('.n')!.textContent = compact(m.likes);
    }
    li.dataset.likes = String(m.likes);
    li.classList.toggle('pinned', this.#pinned === id);
    const pin = li.querySelector<HTMLButtonElement>(':scope > .comment-actions > .comment-pin');
    if (pin) pin.textContent = this.#pinned === id ? 'Unpin' : 'Pin';
    const more = li.querySelector<HTMLButtonElement>(':scope > .comment-actions > .view-replies');
    if (more) {
      const open = this.#openThreads.get(id);
      const shown = li.querySelectorAll(':scope > .replies > li').length;
      more.hidden = m.replies === 0 || (open === null && shown >= m.replies);
      more.textContent = shown === 0 ? `View ${m.replies} ${m.replies === 1 ? 'reply' : 'replies'}` : 'View more replies';
    }
  }

  /** The first page of threads in the chosen order, with counts, likedByMe and the pin. */
  async #loadThreads(): Promise<void> {
    try {
      const page = await this.ctx.live.threads(this.video.id, { order: this.#order, limit: 20 });
      const pinned = page.items.find((c) => c.pinned);
      this.#pinned = pinned?.id ?? null;
      for (const c of page.items) this.#insertComment(c);
      if (pinned) this.onPinned(pinned.id);
    } catch (err) {
      this.#error.textContent = messageOf(err);
    }
  }

  async #setOrder(order: 'newest' | 'top'): Promise<void> {
    if (order === this.#order) return;
    this.#order = order;
    for (const b of this.el.querySelectorAll<HTMLElement>('.comment-order .tab')) b.classList.toggle('on', b.dataset.order === order);
    this.#comments.clear();
    this.#openThreads.clear();
    this.#commentList.replaceChildren();
    await this.#loadThreads();
  }

  /** "View N replies": the thread's next page of replies, oldest first. */
  async #loadReplies(threadId: string): Promise<void> {
    const cursor = this.#openThreads.get(threadId);
    if (cursor === null) return;
    try {
      const page = await this.ctx.live.replies(threadId, { limit: 5, ...(cursor !== undefined ? { cursor } : {}) });
      this.#openThreads.set(threadId, page.nextCursor ?? null);
      for (const r of page.items) this.#insertComment(r);
      this.#renderComment(threadId);
    } catch (err) {
      this.#error.textContent = messageOf(err);
    }
  }

  #startReply(c: Comment): void {
    this.#replyTo = c;
    this.#replyNote.hidden = false;
    const name = h('span', {});
    this.ctx.people.label(name, c.authorId);
    this.#replyNote.replaceChildren('Replying to ', name, ' ', h('button', { type: 'button', class: 'link', onclick: () => this.#cancelReply() }, 'Cancel'));
    this.#input.focus();
  }

  #cancelReply(): void {
    this.#replyTo = undefined;
    this.#replyNote.hidden = true;
    this.#replyNote.replaceChildren();
  }

  async #toggleCommentLike(commentId: string): Promise<void> {
    const m = this.#meta.get(commentId);
    if (!m || m.busy) return;
    m.busy = true;
    const like = !m.liked;
    try {
      const ack = like ? await this.ctx.live.likeComment(commentId) : await this.ctx.live.unlikeComment(commentId);
      m.liked = like;
      m.likes = ack.likes;
    } catch (err) {
      this.#error.textContent = messageOf(err);
    } finally {
      m.busy = false;
      this.#renderComment(commentId);
    }
  }

  async #togglePin(commentId: string): Promise<void> {
    try {
      const ack = await this.ctx.live.pinComment(this.video.id, this.#pinned === commentId ? null : commentId);
      this.onPinned(ack.pinned);
    } catch (err) {
      this.#error.textContent = messageOf(err);
    }
  }

  async #loadFavorite(): Promise<void> {
    try {
      const v = await this.ctx.http.favoriteState(this.video.id);
      this.#favorited = v.favoritedByMe ?? false;
      this.#favorites = v.favorites ?? 0;
      this.#renderFavorite();
    } catch {
      // the button stays at its default; a click still works
    }
  }

  async #toggleFavorite(): Promise<void> {
    this.#favoriteButton.disabled = true;
    try {
      const ack = this.#favorited ? await this.ctx.live.unfavorite(this.video.id) : await this.ctx.live.favorite(this.video.id);
      this.#favorited = !this.#favorited;
      this.#favorites = ack.favorites;
      this.#renderFavorite();
    } catch (err) {
      this.#error.textContent = messageOf(err);
    } finally {
      this.#favoriteButton.disabled = false;
    }
  }

  #renderFavorite(): void {
    this.#favoriteButton.classList.toggle('on', this.#favorited);
    this.#favoriteButton.setAttribute('aria-pressed', String(this.#favorited));
    this.#favoriteCount.textContent = compact(this.#favorites);
    this.el.dataset.favorites = String(this.#favorites);
  }

  async #postComment(input: HTMLInputElement): Promise<void> {
    const text = input.value.trim();
    if (!text) return;
    input.disabled = true;
    this.#error.textContent = '';
    // Sending the same text again after a failure reuses its key: if the first send did
    // reach the server, the retry is recognised and the comment is stored once.
    if (this.#pending?.text !== text) this.#pending = { text, key: idempotencyKey() };
    try {
      const replyTo = this.#replyTo?.id;
      const ack = await this.ctx.live.comment(this.video.id, text, { idempotencyKey: this.#pending.key, ...(replyTo !== undefined ? { replyTo } : {}) });
      this.#pending = undefined;
      if (ack.comment.threadId !== undefined && !this.#openThreads.has(ack.comment.threadId)) {
        await this.#loadReplies(ack.comment.threadId); // show my reply in its thread
      }
      this.#insertComment(ack.comment); // the live event may come later (or already came): same id, shown once
      this.#cancelReply();
      input.value = '';
    } catch (err) {
      this.#error.textContent = messageOf(err);
    } finally {
      input.disabled = false;
      input.focus();
    }
  }

  async #toggleLike(): Promise<void> {
    if (this.#likeBusy) return;
    this.#likeBusy = true;
    const like = !this.#liked;
    this.#liked = like; // optimistic; the ack carries the authoritative counters
    this.#renderCounters();
    try {
      const ack = like ? await this.ctx.live.like(this.video.id) : await this.ctx.live.unlike(this.video.id);
      this.onCounters(ack.counters);
    } catch (err) {
      this.#liked = !like;
      this.#renderCounters();
      this.#error.textContent = messageOf(err);
    } finally {
      this.#likeBusy = false;
    }
  }

  /** Runs an author action with its button disabled, showing a failure on the card. */
  async #withButton(button: HTMLButtonElement | undefined, action: () => Promise<unknown>): Promise<void> {
    if (!button) return;
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      this.#error.textContent = messageOf(err);
    } finally {
      button.disabled = false;
    }
  }

  #toggleFollow(): Promise<void> {
    const { people } = this.ctx;
    return this.#withButton(this.#followButton, () => people.setFollowing(this.video.ownerId, !people.isFollowing(this.video.ownerId)));
  }

  #renderCounters(): void {
    this.#likeCount.textContent = compact(this.#counters.likes);
    this.#commentCount.textContent = compact(this.#counters.comments);
    this.#viewCount.textContent = compact(this.#counters.views);
    this.#likeButton.classList.toggle('liked', this.#liked);
    this.#likeButton.setAttribute('aria-pressed', String(this.#liked));
    this.el.dataset.likes = String(this.#counters.likes);
    this.el.dataset.comments = String(this.#counters.comments);
  }

  #toggleBlock(): Promise<void> {
    const { people } = this.ctx;
    return this.#withButton(this.#blockButton, () => people.setBlocked(this.video.ownerId, !people.isBlocked(this.video.ownerId)));
  }

  #renderFollow(): void {
    if (this.#blockButton) {
      const blocked = this.ctx.people.isBlocked(this.video.ownerId);
      this.#blockButton.textContent = blocked ? 'Unblock' : 'Block';
      this.el.dataset.blocked = String(blocked);
      if (this.#followButton) this.#followButton.hidden = blocked;
    }
    if (!this.#followButton) return;
    const following = this.ctx.people.isFollowing(this.video.ownerId);
    this.#followButton.textContent = following ? 'Following' : 'Follow';
    this.#followButton.classList.toggle('on', following);
  }
}

/**
 * A random idempotency key. Made here rather than by `crypto.randomUUID()` (the SDK's
 * default), which browsers offer only on secure origins: the demo may be opened over
 * plain http from another machine.
 */
function idempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Why the For You feed showed a video, in words (nothing for other feeds). */
function reasonLine(video: Video): HTMLElement[] {
  const reason = (video as Video & { reason?: string }).reason;
  if (reason === undefined) return [];
  const text =
    reason === 'following'
      ? 'From someone you follow'
      : reason === 'similar'
        ? 'Liked by people who like what you like'
        : reason === 'trending'
          ? 'Trending'
          : reason === 'fresh'
            ? 'New: be one of the first to see it'
            : reason.startsWith('interest:@')
              ? 'Because you watch this creator'
              : reason.startsWith('interest:')
                ? `Because you like #${reason.slice('interest:'.length)}`
                : reason;
  return [h('p', { class: 'reason', 'data-reason': reason }, text)];
}
