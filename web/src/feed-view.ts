/**
 * The vertical feed: one card per screen, snapping. Cards near the viewport are watched
 * (live counters and comments), the one in view plays; more are fetched near the end.
 * SDK events are routed to cards by video id here, so a card never talks to the socket.
 */
import type { ForYouVideo, LiveClientEvents, Page, Video } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { h, messageOf } from './dom.ts';
import { VideoCard } from './video-card.ts';

/** `foryou` is the personal feed (the "For you" tab), learning from likes and views; `hot` the same ranking for everyone. */
export type FeedKind = 'foryou' | 'hot' | 'following' | 'favorites';

export class FeedView {
  readonly el: HTMLElement;
  readonly #cards = new Map<string, VideoCard>();
  readonly #watched = new Set<string>();
  readonly #near: IntersectionObserver;
  readonly #inView: IntersectionObserver;
  readonly #end: HTMLElement;
  readonly #offs: (() => void)[] = [];
  #cursor: string | undefined;
  #done = false;
  #loading = false;

  constructor(
    private readonly ctx: AppContext,
    readonly kind: FeedKind,
  ) {
    this.#end = h('div', { class: 'feed-end' }, 'Loading…');
    this.el = h('main', { class: 'feed', 'data-feed': kind }, this.#end);
    // a screen above and below counts as near: their live state is ready before they scroll in
    this.#near = new IntersectionObserver((entries) => entries.forEach((e) => this.#onNear(e)), { root: this.el, rootMargin: '100% 0px' });
    this.#inView = new IntersectionObserver((entries) => entries.forEach((e) => this.#cardOf(e)?.setActive(e.isIntersecting)), { root: this.el, threshold: 0.6 });
    new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && void this.loadMore(), { root: this.el, rootMargin: '200% 0px' }).observe(this.#end);

    this.#on('counters', (c) => this.#cards.get(c.videoId)?.onCounters(c));
    this.#on('comment', (c) => this.#cards.get(c.videoId)?.onComment(c));
    this.#on('commentDeleted', (d) => this.#cards.get(d.videoId)?.onCommentDeleted(d.commentId));
    this.#on('commentCounters', (c) => this.#cards.get(c.videoId)?.onCommentLikes(c.commentId, c.likes));
    this.#on('commentPinned', (p) => this.#cards.get(p.videoId)?.onPinned(p.commentId));
    this.#on('reset', (r) => this.#cards.get(r.videoId)?.onSnapshot(r.snapshot, true));
    this.#on('videoDeleted', (d) => this.#remove(d.videoId));
  }

  /** Puts a video first (one just published), or leaves it where it is. */
  prepend(video: Video): void {
    if (this.#cards.has(video.id)) return;
    this.#add(video, true);
    this.el.scrollTo({ top: 0 });
  }

  async loadMore(): Promise<void> {
    if (this.#loading || this.#done) return;
    this.#loading = true;
    try {
      const q = { limit: 5, ...(this.#cursor ? { cursor: this.#cursor } : {}) };
      const page: Page<Video | ForYouVideo> =
        this.kind === 'foryou'
          ? await this.ctx.http.forYou(q)
          : this.kind === 'hot'
            ? await this.ctx.http.hot(q)
            : this.kind === 'favorites'
              ? await this.ctx.http.favorites(this.ctx.me.id, q)
              : await this.ctx.http.feed(q);
      for (const v of page.items) this.#add(v, false);
      this.#cursor = page.nextCursor;
      this.#done = !page.nextCursor;
      if (this.#done) this.#end.textContent = this.#cards.size ? 'You are all caught up.' : this.#emptyText();
    } catch (err) {
      this.#end.textContent = `Could not load the feed: ${messageOf(err)}`;
    } finally {
      this.#loading = false;
    }
  }

  #on<E extends keyof LiveClientEvents>(event: E, listener: (...args: LiveClientEvents[E]) => void): void {
    const live = this.ctx.live;
    // Node's typed emitter keeps its listener type conditional on a generic E: resolve it here
    const l = listener as Parameters<typeof live.on<E>>[1];
    live.on(event, l);
    this.#offs.push(() => live.off(event, l));
  }

  destroy(): void {
    this.#offs.forEach((off) => off());
    this.#near.disconnect();
    this.#inView.disconnect();
    for (const id of this.#watched) void this.ctx.live.unwatch(id).catch(() => {});
    for (const card of this.#cards.values()) card.destroy();
    this.el.remove();
  }

  #emptyText(): string {
    if (this.kind === 'favorites') return 'No favorites yet: save a video with the bookmark button.';
    return this.kind === 'following' ? 'Nothing here yet: follow someone from the For you feed.' : 'No videos yet: upload the first one.';
  }

  #add(video: Video, first: boolean): void {
    if (this.#cards.has(video.id)) return;
    const card = new VideoCard(this.ctx, video);
    this.#cards.set(video.id, card);
    this.el.insertBefore(card.el, first ? this.el.firstChild : this.#end);
    this.#near.observe(card.el);
    this.#inView.observe(card.el);
  }

  #remove(videoId: string): void {
    const card = this.#cards.get(videoId);
    if (!card) return;
    this.#near.unobserve(card.el);
    this.#inView.unobserve(card.el);
    this.#cards.delete(videoId);
    this.#watched.delete(videoId);
    card.destroy();
  }

  #cardOf(e: IntersectionObserverEntry): VideoCard | undefined {
    const id = (e.target as HTMLElement).dataset.videoId;
    return id === undefined ? undefined : this.#cards.get(id);
  }

  async #onNear(e: IntersectionObserverEntry): Promise<void> {
    const card = this.#cardOf(e);
    if (!card) return;
    const id = card.video.id;
    if (e.isIntersecting && !this.#watched.has(id)) {
      this.#watched.add(id);
      try {
        const reply = await this.ctx.live.watch(id);
        card.onSnapshot(reply.snapshot);
        card.el.dataset.live = 'on';
      } catch (err) {
        this.#watched.delete(id);
        card.el.dataset.live = `error: ${messageOf(err)}`;
      }
    } else if (!e.isIntersecting && this.#watched.has(id)) {
      this.#watched.delete(id);
      card.el.dataset.live = 'off';
      await this.ctx.live.unwatch(id).catch(() => {});
    }
  }
}
