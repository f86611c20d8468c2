/**
 * The REST half of the SDK (fetch). Failed calls reject with TremoloClientError carrying
 * the catalog code from the `{ error: { code, message } }` body.
 */
import type { ConversationView, DmEvent, DmPolicy, SendReply, SendRequest } from '../protocol/dm.ts';
import type { ReportedEventBatch } from '../protocol/interactions.ts';
import type {
  AnalyticsQuery,
  Comment,
  Counters,
  ForYouVideo,
  Page,
  UserProfile,
  Video,
  VideoAnalytics,
  CommentView,
} from '../protocol/model.ts';
import type { InboxPage, ModerationTarget, Report } from '../protocol/social.ts';
import type { CommentLikeReply, FavoriteReply } from '../protocol/live.ts';
import { TremoloClientError } from './live-client.ts';

export interface Session {
  token: string;
  expiresAt: string;
  user: UserProfile;
}

/** One HTTP exchange as HttpClient needs it: the status, a header, the whole body as text. */
export interface HttpExchange {
  status: number;
  header(name: string): string | null;
  text: string;
}

/**
 * What HttpClient sends its requests through: global fetch by default. A network failure
 * (nothing listening, connection reset) rejects with a TypeError, as fetch does, so callers
 * tell it from an answer the server gave.
 */
export type HttpTransport = (method: string, url: URL, headers: Record<string, string>, body: string | undefined) => Promise<HttpExchange>;

const fetchTransport: HttpTransport = async (method, url, headers, body) => {
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, header: (name) => res.headers.get(name), text: res.status === 204 ? '' : await res.text() };
};

export class HttpClient {
  token: string | undefined;
  private readonly transport: HttpTransport;

  constructor(
    readonly baseUrl: string,
    opts: { token?: string; transport?: HttpTransport } = {},
  ) {
    this.token = opts.token;
    this.transport = opts.transport ?? fetchTransport;
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
  /** Reports watch progress and impressions (signed in with this client's token, or as `sessionId`). */
  reportEvents(batch: ReportedEventBatch) {
    return this.request<{ accepted: number }>('POST', '/v1/events', batch);
  }
  /** Your video's analytics per hour or day. */
  analytics(id: string, q: AnalyticsQuery = {}) {
    return this.request<VideoAnalytics>('GET', `/v1/videos/${id}/analytics${query({ ...q })}`);
  }
  byTag(tag: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Video>>('GET', `/v1/tags/${encodeURIComponent(tag)}/videos${query(q)}`);
  }

  // ---- direct messages
  conversations(q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<ConversationView>>('GET', `/v1/conversations${query(q)}`);
  }
  conversation(id: string) {
    return this.request<ConversationView>('GET', `/v1/conversations/${id}`);
  }
  /** A conversation's log, newest first. */
  messages(id: string, q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<DmEvent>>('GET', `/v1/conversations/${id}/messages${query(q)}`);
  }
  sendMessage(req: SendRequest) {
    return this.request<SendReply>('POST', '/v1/messages', req);
  }
  dmPolicy() {
    return this.request<{ policy: DmPolicy }>('GET', '/v1/me/dm-policy');
  }
  setDmPolicy(policy: DmPolicy) {
    return this.request<{ policy: DmPolicy }>('PUT', '/v1/me/dm-policy', { policy });
  }
  // ---- inbox, blocks, reports, moderation

  notifications(q: { cursor?: string; limit?: number } = {}) {
    return this.request<InboxPage>('GET', `/v1/me/notifications${query(q)}`);
  }
  unreadCount() {
    return this.request<{ unread: number }>('GET', '/v1/me/notifications/unread');
  }
  /** Marks one entry read, or all of them without `entryId`. */
  markNotificationsRead(entryId?: string) {
    return this.request<{ unread: number }>('POST', '/v1/me/notifications/read', entryId === undefined ? {} : { entryId });
  }
  block(id: string) {
    return this.request<{ changed: boolean }>('POST', `/v1/users/${id}/block`);
  }
  unblock(id: string) {
    return this.request<{ changed: boolean }>('DELETE', `/v1/users/${id}/block`);
  }
  blocked(q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<string>>('GET', `/v1/me/blocks${query(q)}`);
  }
  report(target: ModerationTarget, reason: string) {
    return this.request<{ report: Report; duplicate: boolean }>('POST', '/v1/reports', { target, reason });
  }
  /** Operators only. */
  openReports(q: { cursor?: string; limit?: number } = {}) {
    return this.request<Page<Report>>('GET', `/v1/admin/reports${query(q)}`);
  }
  /** Operators only: hides a video or a comment (`reason` is recorded and told to its author). */
  hide(target: { type: 'video' | 'comment'; id: string }, reason: string) {
    return this.request<{ changed: boolean }>('POST', `/v1/admin/${target.type}s/${target.id}/hide`, { reason });
  }
  restore(target: { type: 'video' | 'comment'; id: string }) {
    return this.request<{ changed: boolean }>('POST', `/v1/admin/${target.type}s/${target.id}/restore`);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const res = await this.transport(method, new URL(path, this.baseUrl), headers, body !== undefined ? JSON.stringify(body) : undefined);
    if (res.status === 204) return undefined as T;
    let json: unknown;
    try {
      json = JSON.parse(res.text);
    } catch {
      throw new TremoloClientError('E_INTERNAL', `HTTP ${res.status}: non-JSON answer`);
    }
    if (res.status < 200 || res.status > 299) {
      const err = (json as { error?: { code?: string; message?: string } }).error;
      throw Object.assign(new TremoloClientError((err?.code ?? 'E_INTERNAL') as never, err?.message ?? `HTTP ${res.status}`), {
        status: res.status,
        retryAfter: res.header('retry-after'),
      });
    }
    return json as T;
  }
}

function query(q: Record<string, string | number | undefined>): string {
  const entries = Object.entries(q).filter(([, v]) => v !== undefined) as [string, string | number][];
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)]))}` : '';
}
