/**
 * The bell: the user's notifications inbox (stored on the server, so it survives a reload),
 * most recently updated first, one entry per (type, target) ("@ana and 14 others liked your
 * video"), with the server's unread count as the badge. New and updated entries arrive live
 * (`inbox`), the count too (`unread`, also when another tab reads them); opening the bell
 * marks everything read.
 */
import type { InboxEntry, Notification } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { h, icon } from './dom.ts';

const MAX_SHOWN = 50;

export class NotificationsView {
  readonly el: HTMLElement;
  readonly #badge: HTMLElement;
  readonly #list: HTMLUListElement;
  readonly #panel: HTMLElement;
  readonly #items = new Map<string, HTMLElement>();

  constructor(private readonly ctx: AppContext) {
    this.#badge = h('span', { class: 'badge', hidden: true });
    this.#list = h('ul', { class: 'notifications' }, h('li', { class: 'muted empty' }, 'Nothing yet.'));
    this.#panel = h('div', { class: 'popover', hidden: true }, h('h3', {}, 'Notifications'), this.#list);
    const button = h('button', { class: 'icon-button bell', type: 'button', 'aria-label': 'Notifications', onclick: () => this.#toggle() }, icon('bell'), this.#badge);
    this.el = h('div', { class: 'notif' }, button, this.#panel);
    ctx.live.on('inbox', (entry) => this.add(entry));
    ctx.live.on('unread', (n) => this.#setUnread(this.#panel.hidden ? n : 0));
    // the popover closes on a click elsewhere or Escape, like any menu
    document.addEventListener('click', (e) => {
      if (!this.#panel.hidden && !this.el.contains(e.target as Node)) this.#toggle();
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.#panel.hidden) this.#toggle();
    });
  }

  /** Reads the first page of the inbox (on start; live entries arrive afterwards). */
  async load(): Promise<void> {
    const page = await this.ctx.http.notifications({ limit: 30 });
    for (const entry of [...page.items].reverse()) this.add(entry);
    this.#setUnread(page.unread);
  }

  /** Shows an entry at the top, replacing the older state of the same entry. */
  add(entry: InboxEntry): void {
    this.#list.querySelector('.empty')?.remove();
    this.#items.get(entry.id)?.remove();
    const who = h('span', { class: 'who' });
    this.ctx.people.label(who, entry.actorIds[0] ?? '');
    const others = entry.count - 1;
    const item = h(
      'li',
      { 'data-type': entry.type, 'data-id': entry.id, class: entry.read ? 'read' : 'unread' },
      who,
      others > 0 && entry.actorIds.length > 0 ? ` and ${others} other${others > 1 ? 's' : ''} ` : ' ',
      describe(entry.latest),
    );
    if (entry.actorIds.length === 0) who.remove();
    this.#items.set(entry.id, item);
    this.#list.prepend(item);
    while (this.#list.children.length > MAX_SHOWN) {
      const last = this.#list.lastElementChild as HTMLElement | null;
      if (last?.dataset.id) this.#items.delete(last.dataset.id);
      last?.remove();
    }
  }

  #toggle(): void {
    this.#panel.hidden = !this.#panel.hidden;
    if (!this.#panel.hidden) {
      this.#setUnread(0);
      for (const li of this.#items.values()) li.className = 'read';
      void this.ctx.live.markNotificationsRead().catch(() => {});
    }
  }

  #setUnread(n: number): void {
    this.#badge.hidden = n === 0;
    this.#badge.textContent = n > 99 ? '99+' : String(n);
  }
}

function describe(n: Notification): string {
  switch (n.type) {
    case 'video:liked':
      return 'liked your video';
    case 'video:commented':
      return `commented: “${n.text}”`;
    case 'user:followed':
      return 'started following you';
    case 'user:mentioned':
      return `mentioned you: “${n.text}”`;
    case 'content:hidden':
      return `An operator hid your ${n.commentId ? 'comment' : 'video'}: ${n.reason}`;
    case 'content:restored':
      return `An operator restored your ${n.commentId ? 'comment' : 'video'}`;
    case 'comment:liked':
      return `liked your comment (${n.likes} ♥)`;
    case 'video:favorited':
      return `saved your video (${n.favorites} saved)`;
  }
}
