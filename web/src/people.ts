/**
 * What the page knows about other users: handles (fetched once per id) and whom the
 * signed-in user follows and blocks, so every card of an author shows the same state.
 */
import type { HttpClient, LiveClient, UserProfile } from '../../src/client/index.ts';

export class People {
  readonly #profiles = new Map<string, Promise<UserProfile | undefined>>();
  readonly #following = new Set<string>();
  readonly #blocked = new Set<string>();
  readonly #listeners = new Set<(userId: string, following: boolean) => void>();

  constructor(
    private readonly http: HttpClient,
    private readonly live: LiveClient,
    readonly me: UserProfile,
  ) {}

  /** Loads the first pages of whom I follow (a demo-sized graph; a big app would ask per author). */
  async load(): Promise<void> {
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const res = await this.http.following(this.me.id, { limit: 100, ...(cursor ? { cursor } : {}) });
      for (const id of res.items) this.#following.add(id);
      if (!res.nextCursor) break;
      cursor = res.nextCursor;
    }
  }

  profile(userId: string): Promise<UserProfile | undefined> {
    let p = this.#profiles.get(userId);
    if (!p) {
      p = this.http.user(userId).catch(() => undefined);
      this.#profiles.set(userId, p);
    }
    return p;
  }

  /** Fills `el` with "@handle" once the profile is known. */
  label(el: HTMLElement, userId: string): void {
    el.textContent = userId === this.me.id ? `@${this.me.handle}` : '@…';
    if (userId !== this.me.id) void this.profile(userId).then((p) => (el.textContent = p ? `@${p.handle}` : '@unknown'));
  }

  /** Fills `el` with the first letter of the handle (a stand-in avatar). */
  initial(el: HTMLElement, userId: string): void {
    const set = (handle: string | undefined) => (el.textContent = (handle ?? '?').charAt(0).toUpperCase());
    if (userId === this.me.id) set(this.me.handle);
    else void this.profile(userId).then((p) => set(p?.handle));
  }

  isFollowing(userId: string): boolean {
    return this.#following.has(userId);
  }

  async setFollowing(userId: string, follow: boolean): Promise<void> {
    if (follow) await this.live.follow(userId);
    else await this.live.unfollow(userId);
    if (follow) this.#following.add(userId);
    else this.#following.delete(userId);
    for (const l of this.#listeners) l(userId, follow);
  }

  isBlocked(userId: string): boolean {
    return this.#blocked.has(userId);
  }

  /**
   * Blocks (or unblocks) a user: the server ends follows both ways, so the follow state
   * changes too, and their videos and comments leave my feeds from the next page on.
   */
  async setBlocked(userId: string, block: boolean): Promise<void> {
    if (block) await this.live.block(userId);
    else await this.live.unblock(userId);
    if (block) {
      this.#blocked.add(userId);
      this.#following.delete(userId);
    } else this.#blocked.delete(userId);
    for (const l of this.#listeners) l(userId, this.#following.has(userId));
  }

  onFollowChange(listener: (userId: string, following: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
