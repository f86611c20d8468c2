/**
 * The tremolo web demo, and the reference client for app developers: everything here
 * goes through the SDK in src/client (HttpClient for REST, LiveClient for the socket).
 */
import { HttpClient, LiveClient, type Session } from '../../src/client/index.ts';
import { authView, forgetSession, savedSession } from './auth-view.ts';
import { ChatView } from './chat-view.ts';
import type { AppContext } from './context.ts';
import { h, messageOf } from './dom.ts';
import { FeedView, type FeedKind } from './feed-view.ts';
import { NotificationsView } from './notifications-view.ts';
import { People } from './people.ts';
import { UploadView } from './upload-view.ts';

declare global {
  interface Window {
    /** The page's clients, for devtools and the end-to-end tests. */
    tremolo?: { ctx: AppContext; feed: () => FeedView; chat: ChatView };
  }
}

const root = document.getElementById('app') ?? document.body;
const baseUrl = location.origin;

function showAuth(message?: string): void {
  const view = authView(baseUrl, (s) => void start(s));
  if (message) view.querySelector('.error')?.append(message);
  root.replaceChildren(view);
}

async function start(session: Session): Promise<void> {
  const http = new HttpClient(baseUrl, { token: session.token });
  const live = new LiveClient({ url: baseUrl, token: session.token });
  try {
    await live.connect();
  } catch (err) {
    forgetSession();
    return showAuth(messageOf(err));
  }
  const me = await http.user(session.user.id).catch(() => session.user);
  const people = new People(http, live, me);
  await people.load().catch(() => {});
  // the chat panel needs the context, and the cards' Message buttons (in the context) need the panel
  const ctx: AppContext = { http, live, people, me, messageUser: (userId) => void chat.messageUser(userId) };
  const chat = new ChatView(ctx);
  void chat.load().catch(() => {});

  const status = h('span', { class: 'conn', 'data-state': 'live', title: 'Live connection' }, 'live');
  const setState = (state: 'live' | 'reconnecting') => {
    status.dataset.state = state;
    status.textContent = state;
    document.body.dataset.connection = state;
  };
  live.on('disconnected', () => setState('reconnecting'));
  live.on('reconnected', () => setState('live'));
  live.on('disconnected', (reason) => {
    if (reason === 'token refresh failed') showAuth('Your session expired: log in again.');
  });
  setState('live');

  let feed = new FeedView(ctx, 'foryou');
  const tabs = new Map<FeedKind, HTMLButtonElement>();
  const newDot = h('span', { class: 'dot', hidden: true });
  const show = (kind: FeedKind) => {
    feed.destroy();
    feed = new FeedView(ctx, kind);
    shell.append(feed.el);
    void feed.loadMore();
    for (const [k, b] of tabs) b.classList.toggle('on', k === kind);
    if (kind === 'following') newDot.hidden = true;
  };
  tabs.set('foryou', h('button', { type: 'button', class: 'tab on', 'data-tab': 'foryou', onclick: () => show('foryou') }, 'For you'));
  tabs.set('hot', h('button', { type: 'button', class: 'tab', 'data-tab': 'hot', onclick: () => show('hot') }, 'Hot'));
  tabs.set('following', h('button', { type: 'button', class: 'tab', 'data-tab': 'following', onclick: () => show('following') }, 'Following', newDot));
  tabs.set('favorites', h('button', { type: 'button', class: 'tab', 'data-tab': 'favorites', onclick: () => show('favorites') }, 'Favorites'));
  live.on('feed', () => {
    if (feed.kind !== 'following') newDot.hidden = false;
  });

  const upload = new UploadView(ctx, (video) => feed.prepend(video));
  const notifications = new NotificationsView(ctx);
  void notifications.load().catch(() => {});
  const logout = () => {
    upload.abort();
    live.close();
    forgetSession();
    showAuth();
  };
  const topbar = h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'logo' }, 'tremolo'),
    h('nav', { class: 'tabs' }, ...tabs.values()),
    h(
      'div',
      { class: 'tools' },
      status,
      h('button', { type: 'button', class: 'upload-button', onclick: () => upload.open() }, '+ Upload'),
      chat.button,
      notifications.el,
      h('span', { class: 'me', title: me.displayName }, `@${me.handle}`),
      h('button', { type: 'button', class: 'link', onclick: logout }, 'Log out'),
    ),
  );
  const shell = h('div', { class: 'shell' }, topbar, upload.el, chat.el, feed.el);
  root.replaceChildren(shell);
  window.tremolo = { ctx, feed: () => feed, chat };
  await feed.loadMore();
}

const saved = savedSession();
if (saved) void start(saved);
else showAuth();
