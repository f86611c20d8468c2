/**
 * The chat panel: direct messages through the SDK. A list of conversations by last activity
 * with unread counts, and the open conversation: its history (older pages on demand), a
 * composer whose sends carry an idempotency key (kept until the send is acknowledged, so a
 * retry after a lost ack is stored once), delivered / read receipts under my messages, and the
 * other side's typing indicator.
 *
 * Live state comes only from the SDK's events: `dm` (new entries, in order, once each),
 * `dmReceipt`, `dmTyping`, and `dmReset` (a conversation the log no longer reaches after a
 * reconnect: its view and newest page replace what the panel holds). `syncMessages()` at start
 * turns on the SDK's catch-up after every reconnect.
 */
import type { ConversationView, DirectMessage, DmEvent, DmReceiptPayload } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { ago, h, messageOf } from './dom.ts';

const PAGE = 30;
/** How long "typing…" stays up after the last typing event (the server sends at most one a second). */
const TYPING_SHOWN_MS = 3000;

interface Held {
  view: ConversationView;
  /** Messages held, by seq (deleted ones as their stub). */
  messages: Map<number, DirectMessage>;
  /** Cursor of the next older history page; undefined: none older (or not loaded yet). */
  older: string | undefined;
  loaded: boolean;
  row: HTMLLIElement;
}

export class ChatView {
  readonly el: HTMLElement;
  /** The topbar button, with the total unread count. */
  readonly button: HTMLButtonElement;
  readonly #badge: HTMLElement;
  readonly #list: HTMLUListElement;
  readonly #pane: HTMLElement;
  readonly #title: HTMLElement;
  readonly #messages: HTMLOListElement;
  readonly #olderButton: HTMLButtonElement;
  readonly #typing: HTMLElement;
  readonly #input: HTMLInputElement;
  readonly #error: HTMLElement;
  readonly #held = new Map<string, Held>();
  #open: string | undefined;
  /** A conversation not created yet (first message to a user): its other member. */
  #pendingTo: string | undefined;
  /** The key of the message being composed: the same for every retry of one send. */
  #sendKey: string | undefined;
  #typingTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ctx: AppContext) {
    this.#badge = h('span', { class: 'badge', hidden: true });
    this.button = h('button', { type: 'button', class: 'chat-button', onclick: () => this.toggle() }, 'Messages', this.#badge);
    this.#list = h('ul', { class: 'conversations' }, h('li', { class: 'muted empty' }, 'No conversations yet.'));
    this.#title = h('h3', { class: 'chat-title' });
    this.#olderButton = h('button', { type: 'button', class: 'link older', hidden: true, onclick: () => void this.#loadOlder() }, 'Earlier messages');
    this.#messages = h('ol', { class: 'messages' });
    this.#typing = h('p', { class: 'typing muted', hidden: true });
    this.#input = h('input', { name: 'message', placeholder: 'Message…', autocomplete: 'off', maxlength: 2000 });
    this.#input.addEventListener('input', () => {
      if (this.#open && this.#input.value) void ctx.live.typing(this.#open).catch(() => {});
    });
    this.#error = h('p', { class: 'error', role: 'alert' });
    const composer = h(
      'form',
      {
        class: 'composer',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.#send();
        },
      },
      this.#input,
      h('button', { type: 'submit' }, 'Send'),
    );
    this.#pane = h('div', { class: 'chat-pane', hidden: true }, this.#title, this.#olderButton, this.#messages, this.#typing, composer, this.#error);
    this.el = h('section', { class: 'chat', hidden: true }, h('div', { class: 'chat-list' }, h('h3', {}, 'Messages'), this.#list), this.#pane);

    ctx.live.on('dm', ({ conversationId, events }) => void this.#take(conversationId, events));
    ctx.live.on('dmReset', ({ conversation, events }) => this.#reset(conversation, events));
    ctx.live.on('dmReceipt', (r) => this.#receipt(r));
    ctx.live.on('dmTyping', ({ conversationId, userId }) => {
      if (conversationId !== this.#open || userId === ctx.me.id) return;
      const who = h('span', { class: 'who' });
      this.ctx.people.label(who, userId);
      this.#typing.replaceChildren(who, ' is typing…');
      this.#typing.dataset.userId = userId;
      this.#typing.hidden = false;
      clearTimeout(this.#typingTimer);
      this.#typingTimer = setTimeout(() => (this.#typing.hidden = true), TYPING_SHOWN_MS);
    });
  }

  /** The inbox's first page, then the SDK's sync (which also turns on catch-up after reconnects). */
  async load(): Promise<void> {
    const page = await this.ctx.http.conversations({ limit: PAGE });
    for (const view of [...page.items].reverse()) this.#upsert(view);
    await this.ctx.live.syncMessages();
  }

  toggle(show = this.el.hidden): void {
    this.el.hidden = !show;
    if (show && this.#open) this.#markRead(this.#open);
  }

  /** Opens the conversation with `userId` (from a video card's Message button): existing, or new on the first send. */
  async messageUser(userId: string): Promise<void> {
    this.toggle(true);
    const existing = [...this.#held.values()].find((c) => c.view.kind === 'direct' && c.view.members.includes(userId));
    if (existing) return this.open(existing.view.id);
    this.#open = undefined;
    this.#pendingTo = userId;
    this.#showPane();
    this.ctx.people.label(this.#title, userId);
    this.#messages.replaceChildren();
    this.#olderButton.hidden = true;
    this.#input.focus();
  }

  async open(conversationId: string): Promise<void> {
    const c = this.#held.get(conversationId);
    if (!c) return;
    this.#open = conversationId;
    this.#pendingTo = undefined;
    this.#showPane();
    this.#title.textContent = '';
    this.#title.append(this.#nameOf(c.view));
    for (const [id, held] of this.#held) held.row.classList.toggle('on', id === conversationId);
    if (!c.loaded) {
      const page = await this.ctx.http.messages(conversationId, { limit: PAGE });
      this.#hold(c, page.items);
      c.older = page.nextCursor;
      c.loaded = true;
    }
    if (this.#open === conversationId) {
      this.#render(c);
      this.#markRead(conversationId);
    }
  }

  // ------------------------------------------------------------ internals

  #showPane(): void {
    this.#pane.hidden = false;
    this.#typing.hidden = true;
    this.#error.textContent = '';
  }

  async #send(): Promise<void> {
    const text = this.#input.value.trim();
    if (!text || (!this.#open && !this.#pendingTo)) return;
    this.#sendKey ??= globalThis.crypto.randomUUID();
    this.#error.textContent = '';
    try {
      const target = this.#open ? { conversationId: this.#open } : { toUserId: this.#pendingTo! };
      const reply = await this.ctx.live.sendMessage({ ...target, text, idempotencyKey: this.#sendKey });
      this.#sendKey = undefined;
      this.#input.value = '';
      const id = reply.message.conversationId;
      if (!this.#held.has(id)) this.#upsert(await this.ctx.http.conversation(id));
      // the entry itself also arrives as `dm`; taking it here shows it without waiting
      await this.#take(id, [{ type: 'message', seq: reply.message.seq, message: reply.message }]);
      if (this.#open !== id) await this.open(id);
    } catch (err) {
      // the key stays: pressing Send again retries the same message, stored once
      this.#error.textContent = messageOf(err);
    }
  }

  async #take(conversationId: string, events: DmEvent[]): Promise<void> {
    let c = this.#held.get(conversationId);
    // a conversation new to this page is read from the server, which already counts these entries
    let counted = 0;
    if (!c) {
      const view = await this.ctx.http.conversation(conversationId).catch(() => undefined);
      if (!view) return;
      c = this.#held.get(conversationId) ?? this.#upsert(view);
      counted = view.head;
    }
    this.#hold(c, events);
    for (const e of events) {
      if (e.seq <= counted) continue;
      if (e.seq > c.view.head) c.view.head = e.seq;
      if (e.type === 'message' && !e.message.deleted) {
        c.view.lastMessage = e.message;
        c.view.activity = Math.max(c.view.activity, Date.parse(e.message.createdAt));
        if (e.message.senderId !== this.ctx.me.id && e.seq > c.view.read) c.view.unread++;
      }
      if (e.type === 'message' && e.message.senderId !== this.ctx.me.id && e.message.senderId === this.#typingFrom()) this.#typing.hidden = true;
    }
    this.#list.prepend(c.row);
    this.#paintRow(c);
    if (this.#open === conversationId) {
      this.#render(c);
      if (!this.el.hidden) this.#markRead(conversationId);
    } else {
      const last = events.at(-1);
      if (last) void this.ctx.live.markDelivered(conversationId, last.seq).catch(() => {});
    }
  }

  #reset(view: ConversationView, events: DmEvent[]): void {
    const c = this.#upsert(view);
    c.messages.clear();
    this.#hold(c, events);
    // older pages (and their cursor) are read again from the server when it is next shown
    c.loaded = false;
    c.older = undefined;
    if (this.#open === view.id) void this.open(view.id);
  }

  #receipt(r: DmReceiptPayload): void {
    const c = this.#held.get(r.conversationId);
    if (!c) return;
    const mine = c.view.receipts.find((x) => x.userId === r.userId);
    if (mine) {
      mine.delivered = r.delivered;
      mine.read = r.read;
    } else c.view.receipts.push({ userId: r.userId, delivered: r.delivered, read: r.read });
    if (r.userId === this.ctx.me.id) {
      // my other device read it: its unread count is the server's
      c.view.read = r.read;
      c.view.unread = r.unread;
      this.#paintRow(c);
    }
    if (this.#open === r.conversationId) this.#render(c);
  }

  #markRead(conversationId: string): void {
    const c = this.#held.get(conversationId);
    if (!c || c.view.head <= c.view.read) return;
    const seq = c.view.head;
    c.view.read = seq;
    c.view.unread = 0;
    this.#paintRow(c);
    void this.ctx.live.markRead(conversationId, seq).catch(() => {});
  }

  async #loadOlder(): Promise<void> {
    const id = this.#open;
    const c = id ? this.#held.get(id) : undefined;
    if (!c || !c.older) return;
    const page = await this.ctx.http.messages(c.view.id, { limit: PAGE, cursor: c.older });
    this.#hold(c, page.items);
    c.older = page.nextCursor;
    if (this.#open === c.view.id) this.#render(c);
  }

  #hold(c: Held, events: readonly DmEvent[]): void {
    for (const e of events) {
      if (e.type === 'message') c.messages.set(e.seq, e.message);
      else if (e.type === 'deleted') {
        const m = c.messages.get(e.messageSeq);
        if (m) c.messages.set(e.messageSeq, { ...m, text: '', deleted: true });
      }
    }
  }

  #upsert(view: ConversationView): Held {
    let c = this.#held.get(view.id);
    if (c) {
      c.view = view;
    } else {
      const row = h('li', { class: 'conversation', 'data-conversation-id': view.id, onclick: () => void this.open(view.id) });
      c = { view, messages: new Map(), older: undefined, loaded: false, row };
      this.#held.set(view.id, c);
      this.#list.querySelector('.empty')?.remove();
    }
    this.#list.prepend(c.row);
    this.#paintRow(c);
    return c;
  }

  #paintRow(c: Held): void {
    const { view } = c;
    const last = view.lastMessage;
    c.row.dataset.unread = String(view.unread);
    c.row.replaceChildren(
      h('span', { class: 'name' }, this.#nameOf(view)),
      h('span', { class: 'unread badge', hidden: view.unread === 0 }, String(view.unread)),
      h('span', { class: 'last muted' }, last ? (last.deleted ? 'Message deleted' : last.text || 'Shared a video') : ''),
    );
    if (last) c.row.append(h('time', { datetime: last.createdAt, class: 'muted' }, ago(last.createdAt)));
    let total = 0;
    for (const held of this.#held.values()) if (!held.view.muted) total += held.view.unread;
    this.#badge.hidden = total === 0;
    this.#badge.textContent = total > 99 ? '99+' : String(total);
  }

  #nameOf(view: ConversationView): HTMLElement {
    const others = view.members.filter((m) => m !== this.ctx.me.id);
    const el = h('span', {});
    if (view.kind === 'direct' && others[0]) this.ctx.people.label(el, others[0]);
    else el.textContent = `Group (${view.members.length})`;
    return el;
  }

  #typingFrom(): string | undefined {
    return this.#typing.hidden ? undefined : this.#typing.dataset.userId;
  }

  /** The open conversation's messages, oldest first, with receipts under mine. */
  #render(c: Held): void {
    const others = c.view.receipts.filter((r) => r.userId !== this.ctx.me.id);
    const items = [...c.messages.values()].sort((a, b) => a.seq - b.seq);
    this.#messages.replaceChildren(
      ...items.map((m) => {
        const mine = m.senderId === this.ctx.me.id;
        const li = h('li', { class: `message${mine ? ' mine' : ''}${m.deleted ? ' deleted' : ''}`, 'data-seq': m.seq }, h('span', { class: 'text' }, m.deleted ? 'Message deleted' : m.text || 'Shared a video'));
        if (mine && others.length) {
          const state = others.every((r) => r.read >= m.seq) ? 'read' : others.every((r) => r.delivered >= m.seq) ? 'delivered' : 'sent';
          li.append(h('span', { class: 'receipt muted', 'data-state': state }, state === 'read' ? 'Read' : state === 'delivered' ? 'Delivered' : 'Sent'));
        }
        return li;
      }),
    );
    this.#olderButton.hidden = c.older === undefined;
    this.#messages.lastElementChild?.scrollIntoView({ block: 'end' });
  }
}
