/**
 * The REST half of the SDK (fetch). Failed calls reject with TremoloClientError carrying
 * the catalog code from the `{ error: { code, message } }` body.
 */
import type { CommentLikeReply, FavoriteReply } from '../protocol/live.ts';
import type { Comment, CommentView, Counters, ForYouVideo, Page, UserProfile, Video } from '../protocol/model.ts';
import { TremoloClientError } from './live-client.ts';

export interface Session {
  token: string;
  expiresAt: string;
  user: UserProfile;
}

export class HttpClient {
  token: string | undefined;

  constructor(
    readonly baseUrl: string,
    opts: { token?: string } = {},
  ) {
    this.token = opts.token;
  }

  async register(handle: string, password: string, displayName?: string): Promise<Session> {
    const s = await this.request<Session>('POST', '/v1/users', { handle, password, ...(displayName ? { displayName } : {}) });
    this.token = s.token;
    return s;
  }

  async login(handle: string, password: string): Promise<Session> {
    const s = await this.request<Session>('POST', '/v1/sessions', { handle, password });
    this.token = s.token;
    return s;
  }

  createVideo(input: { title: string; description?: string; uploadId?: string; mediaUrl?: string }) {
    return this.request<Video>('POST', '/v1/videos', input);
  }
  getVideo(id: string) {
    return this.request<Video & { degraded?: boolean }>('GET', `/v1/videos/${id}`);
  }
  deleteVideo(id: string) {
    return this.request<void>('DELETE', `/v1/videos/${id}`);
  }
  like(id: string) {
    return this.request<{ changed: boolean; counters: Counters; offset: number }>('POST', `/v1/videos/${id}/like`);
  }
  unlike(id: string) {
    return this.request<{ changed: boolean; counters: Counters; offset: number }>('DELETE', `/v1/videos/${id}/like`);
  }
  comments(id: string, q: { cursor?: string; limit?: number; order?: 'newest' | 'oldest' } = {}) {
    return this.request<Page<Comment>>('GET', `/v1/videos/${id}/comments${query(q)}`);
  }
  comment(id: string, text: string, opts: { replyTo?: string; idempotencyKey?: string } = {}) {
    return this.request<Comment>('POST', `/v1/videos/${id}/comments`, { text, ...opts });
  }
  deleteComment(commentId: string) {
    return this.request<void>('DELETE', `/v1/comments/${commentId}`);
  }
  /** Top-level comments with like and reply counts; the pinned one leads the first page. */
  threads(videoId: string, q: { cursor?: string; limit?: number; order?: 'newest' | 'top' } = {}) {
    return this.request<Page<CommentView>>('GET', `/v1/videos/${videoId}/threads${query(q)}`);
  }
  /** A thread's replies, oldest first. */
  replies(commentId: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<CommentView>>('GET', `/v1/comments/${commentId}/replies${query(q)}`);
  }
  likeComment(commentId: string) {
    return this.request<CommentLikeReply>('POST', `/v1/comments/${commentId}/like`);
  }
  unlikeComment(commentId: string) {
    return this.request<CommentLikeReply>('DELETE', `/v1/comments/${commentId}/like`);
  }
  /** Pins a top-level comment of your video; null unpins. */
  pinComment(videoId: string, commentId: string | null) {
    return commentId === null
      ? this.request<{ changed: boolean; pinned: string | null; offset: number }>('DELETE', `/v1/videos/${videoId}/pin`)
      : this.request<{ changed: boolean; pinned: string | null; offset: number }>('PUT', `/v1/videos/${videoId}/pin`, { commentId });
  }
  favorite(videoId: string) {
    return this.request<FavoriteReply>('POST', `/v1/videos/${videoId}/favorite`);
  }
  unfavorite(videoId: string) {
    return this.request<FavoriteReply>('DELETE', `/v1/videos/${videoId}/favorite`);
  }
  /** A video's favorite count, and with a token whether you keep it. */
  favoriteState(videoId: string) {
    return this.request<{ videoId: string; favorites: number; favoritedByMe?: boolean }>('GET', `/v1/videos/${videoId}/favorite`);
  }
  /** A user's favorites (yours, or anyone's public list). */
  favorites(userId: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Video>>('GET', `/v1/users/${userId}/favorites${query(q)}`);
  }
  settings() {
    return this.request<{ favoritesPublic: boolean }>('GET', '/v1/me/settings');
  }
  updateSettings(input: { favoritesPublic?: boolean }) {
    return this.request<{ favoritesPublic: boolean }>('PATCH', '/v1/me/settings', input);
  }
  user(id: string) {
    return this.request<UserProfile & { degraded?: boolean }>('GET', `/v1/users/${id}`);
  }
  userVideos(id: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Video>>('GET', `/v1/users/${id}/videos${query(q)}`);
  }
  followers(id: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<string>>('GET', `/v1/users/${id}/followers${query(q)}`);
  }
  following(id: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<string>>('GET', `/v1/users/${id}/following${query(q)}`);
  }
  follow(id: string) {
    return this.request<{ changed: boolean }>('POST', `/v1/users/${id}/follow`);
  }
  unfollow(id: string) {
    return this.request<{ changed: boolean }>('DELETE', `/v1/users/${id}/follow`);
  }
  feed(q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Video>>('GET', `/v1/feed${query(q)}`);
  }
  hot(q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Video>>('GET', `/v1/feed/hot${query(q)}`);
  }
  /** The For You feed: signed in, the user's; anonymous, pass `session` (an id the client keeps). Each item says why it is shown. */
  forYou(q: { cursor?: string; limit?: number; session?: string } = {}) {
    return this.request<Page<ForYouVideo>>('GET', `/v1/feed/foryou${query(q)}`);
  }
  byTag(tag: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Video>>('GET', `/v1/tags/${encodeURIComponent(tag)}/videos${query(q)}`);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await fetch(new URL(path, this.baseUrl), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new TremoloClientError('E_INTERNAL', `HTTP ${res.status}: non-JSON answer`);
    }
    if (!res.ok) {
      const err = (json as { error?: { code?: string; message?: string } }).error;
      throw Object.assign(new TremoloClientError((err?.code ?? 'E_INTERNAL') as never, err?.message ?? `HTTP ${res.status}`), {
        status: res.status,
        retryAfter: res.headers.get('retry-after'),
      });
    }
    return json as T;
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const entries = Object.entries(q).filter(([, v]) => v !== undefined) as [string, string | number][];
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)]))}` : '';
}
