/**
 * The bell: notifications pushed to the user's own room (likes and comments on my videos,
 * new followers), newest first, with an unread badge.
 */
import type { Notification } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { h, icon } from './dom.ts';

const MAX_KEPT = 50;

export class NotificationsView {
  readonly el: HTMLElement;
  readonly #badge: HTMLElement;
  readonly #list: HTMLUListElement;
  readonly #panel: HTMLElement;
  #unread = 0;

  constructor(private readonly ctx: AppContext) {
    this.#badge = h('span', { class: 'badge', hidden: true });
    this.#list = h('ul', { class: 'notifications' }, h('li', { class: 'muted empty' }, 'Nothing yet.'));
    this.#panel = h('div', { class: 'popover', hidden: true }, h('h3', {}, 'Notifications'), this.#list);
    const button = h('button', { class: 'icon-button bell', type: 'button', 'aria-label': 'Notifications', onclick: () => this.#toggle() }, icon('bell'), this.#badge);
    this.el = h('div', { class: 'notif' }, button, this.#panel);
    ctx.live.on('notification', (n) => this.add(n));
    // the popover closes on a click elsewhere or Escape, like any menu
    document.addEventListener('click', (e) => {
      if (!this.#panel.hidden && !this.el.contains(e.target as Node)) this.#toggle();
    });
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.#panel.hidden) this.#toggle();
    });
  }

  add(n: Notification): void {
    this.#list.querySelector('.empty')?.remove();
    const who = h('span', { class: 'who' });
    const item = h('li', { 'data-type': n.type }, who, ' ', this.#describe(n));
    if (n.type === 'video:liked' || n.type === 'comment:liked') {
      this.ctx.people.label(who, n.likerIds[0] ?? '');
      if (n.likerIds.length > 1) item.append(` (and ${n.likerIds.length - 1} more)`);
    } else if (n.type === 'video:commented') this.ctx.people.label(who, n.authorId);
    else if (n.type === 'video:favorited') this.ctx.people.label(who, n.userId);
    else this.ctx.people.label(who, n.followerId);
    this.#list.prepend(item);
    while (this.#list.children.length > MAX_KEPT) this.#list.lastElementChild?.remove();
    if (this.#panel.hidden) this.#setUnread(this.#unread + 1);
  }

  #describe(n: Notification): string {
    switch (n.type) {
      case 'video:liked':
        return `liked your video (${n.likes} ♥)`;
      case 'video:commented':
        return `commented: “${n.text}”`;
      case 'user:followed':
        return 'started following you';
      case 'comment:liked':
        return `liked your comment (${n.likes} ♥)`;
      case 'video:favorited':
        return `saved your video (${n.favorites} saved)`;
    }
  }

  #toggle(): void {
    this.#panel.hidden = !this.#panel.hidden;
    if (!this.#panel.hidden) this.#setUnread(0);
  }

  #setUnread(n: number): void {
    this.#unread = n;
    this.#badge.hidden = n === 0;
    this.#badge.textContent = n > 99 ? '99+' : String(n);
  }
}
