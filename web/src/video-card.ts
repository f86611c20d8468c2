/**
 * One video of the feed: the player, its live counters and like button, the comments
 * (arriving live, in order, each once) with a box to add one, and the author's follow button.
 * The card only renders; the feed routes the SDK's events to it by video id.
 */
import type { Comment, Counters, Video, VideoSnapshotPayload } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { ago, compact, h, icon, messageOf, tagLabel } from './dom.ts';
import { Player } from './player.ts';

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
  readonly #likeButton: HTMLButtonElement;
  readonly #likeCount: HTMLElement;
  readonly #commentCount: HTMLElement;
  readonly #viewCount: HTMLElement;
  readonly #commentList: HTMLUListElement;
  readonly #followButton: HTMLButtonElement | undefined;
  readonly #error: HTMLElement;
  readonly #unsubscribe: () => void;

  constructor(
    private readonly ctx: AppContext,
    readonly video: Video,
  ) {
    this.#counters = video.counters;
    this.#liked = video.likedByMe ?? false;

    const videoEl = h('video', { class: 'player', 'aria-label': video.title });
    this.player = new Player(videoEl, async () => (await ctx.http.getVideo(video.id)).media);
    this.player.load(video.media);

    this.#likeCount = h('span', { class: 'count' });
    this.#likeButton = h('button', { class: 'rail-button like', type: 'button', 'aria-label': 'Like', onclick: () => void this.#toggleLike() }, h('span', { class: 'icon' }, icon('heart')), this.#likeCount);
    this.#commentCount = h('span', { class: 'count' });
    this.#viewCount = h('span', { class: 'count' });

    const own = video.ownerId === ctx.me.id;
    if (!own) {
      this.#followButton = h('button', { class: 'follow', type: 'button', onclick: () => void this.#toggleFollow() });
    }
    const authorName = h('span', { class: 'handle' });
    ctx.people.label(authorName, video.ownerId);
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
    ctx.people.initial(avatar, video.ownerId);
    const captionName = h('span', { class: 'handle' });
    ctx.people.label(captionName, video.ownerId);

    this.#commentList = h('ul', { class: 'comments', 'aria-live': 'polite', 'data-empty': 'No comments yet. Say something nice.' });
    const input = h('input', { name: 'text', placeholder: 'Add a comment…', maxlength: 500, autocomplete: 'off', 'aria-label': 'Comment' });
    this.#error = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'comment-box' }, input, h('button', { type: 'submit' }, 'Post'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#postComment(input);
    });

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
          h('div', { class: 'rail-stat', title: 'Comments' }, h('span', { class: 'icon' }, icon('comment')), this.#commentCount),
          h('div', { class: 'rail-stat', title: 'Views' }, h('span', { class: 'icon' }, icon('play')), this.#viewCount),
        ),
      ),
      h(
        'aside',
        { class: 'panel' },
        h('div', { class: 'author' }, avatar, h('div', { class: 'byline' }, authorName, h('time', { datetime: video.createdAt }, ago(video.createdAt))), this.#followButton),
        h('h2', {}, video.title),
        video.description ? h('p', { class: 'description' }, video.description) : null,
        tags.length ? h('ul', { class: 'tags' }, ...tags.map((t) => h('li', {}, tagLabel(t)))) : null,
        this.player.source ? null : h('p', { class: 'muted' }, 'This video is still being processed.'),
        h('h3', {}, 'Comments'),
        this.#commentList,
        this.#error,
        form,
      ),
    );

    this.#unsubscribe = ctx.people.onFollowChange((userId) => {
      if (userId === video.ownerId) this.#renderFollow();
    });
    this.#renderCounters();
    this.#renderFollow();
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
  }

  setActive(active: boolean): void {
    this.el.classList.toggle('active', active);
    if (active) this.player.play();
    else this.player.pause();
  }

  destroy(): void {
    this.#unsubscribe();
    this.player.destroy();
    this.el.remove();
  }

  /** Keeps the list in id order (ids are time-ordered), whatever order snapshot and events came in. */
  #insertComment(c: Comment): void {
    if (this.#comments.has(c.id)) return;
    const who = h('span', { class: 'who' });
    this.ctx.people.label(who, c.authorId);
    const li = h('li', { class: 'comment', 'data-comment-id': c.id }, who, h('span', { class: 'text' }, c.text), h('time', { datetime: c.createdAt }, ago(c.createdAt)));
    const after = [...this.#comments.keys()].filter((id) => id < c.id).sort().at(-1);
    const next = after === undefined ? this.#commentList.firstChild : (this.#comments.get(after)?.nextSibling ?? null);
    this.#commentList.insertBefore(li, next);
    this.#comments.set(c.id, li);
    this.#commentList.scrollTop = this.#commentList.scrollHeight;
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
      const ack = await this.ctx.live.comment(this.video.id, text, { idempotencyKey: this.#pending.key });
      this.#pending = undefined;
      this.#insertComment(ack.comment); // the live event may come later (or already came): same id, shown once
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

  async #toggleFollow(): Promise<void> {
    const button = this.#followButton;
    if (!button) return;
    button.disabled = true;
    try {
      await this.ctx.people.setFollowing(this.video.ownerId, !this.ctx.people.isFollowing(this.video.ownerId));
    } catch (err) {
      this.#error.textContent = messageOf(err);
    } finally {
      button.disabled = false;
    }
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

  #renderFollow(): void {
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
