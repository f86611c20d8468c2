/**
 * The owner's view of a video's analytics (`GET /v1/videos/:id/analytics`): views per hour
 * over the last day as bars, and the totals (unique viewers, average watch time, completion,
 * like rate, comments, followers gained). Without ClickHouse the server answers the lifetime
 * counters only, and the panel says so.
 */
import type { HttpClient, VideoAnalytics } from '../../src/client/index.ts';
import { h, messageOf } from './dom.ts';

const SVG = 'http://www.w3.org/2000/svg';

export function analyticsPanel(http: HttpClient, videoId: string): HTMLElement {
  const body = h('div', { class: 'analytics-body' });
  const button = h('button', { class: 'analytics-toggle', type: 'button' }, 'Analytics');
  const el = h('section', { class: 'analytics' }, button, body);
  button.addEventListener('click', () => {
    body.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    http
      .analytics(videoId, { bucket: 'hour', from: new Date(Date.now() - 24 * 3_600_000).toISOString() })
      .then((a) => body.replaceChildren(...render(a)))
      .catch((err: unknown) => body.replaceChildren(h('p', { class: 'error', role: 'alert' }, messageOf(err))));
  });
  return el;
}

function render(a: VideoAnalytics): HTMLElement[] {
  if (a.source === 'counters') {
    const t = a.totals;
    return [h('p', { class: 'muted' }, `Totals (no behaviour log configured): ${t.views} views, ${t.likes} likes, ${t.comments} comments.`)];
  }
  const t = a.totals;
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const stats = h(
    'dl',
    { class: 'analytics-totals' },
    ...[
      ['Views', String(t.views)],
      ['Unique viewers', String(t.uniqueViewers)],
      ['Avg. watch', `${(t.avgWatchMs / 1000).toFixed(1)} s`],
      ['Completion', pct(t.completionRate)],
      ['Like rate', pct(t.likeRate)],
      ['Comments', String(t.comments)],
      ['New followers', String(t.followersGained)],
    ].flatMap(([k, v]) => [h('dt', {}, k!), h('dd', {}, v!)]),
  );
  return [chart(a), stats];
}

/** Views per bucket as bars, 24 hourly slots ending now. */
function chart(a: Extract<VideoAnalytics, { source: 'clickhouse' }>): HTMLElement {
  const hour = 3_600_000;
  const end = Math.floor(Date.parse(a.to) / hour) * hour;
  const slots = Array.from({ length: 24 }, (_, i) => end - (23 - i) * hour);
  const views = new Map(a.buckets.map((b) => [Date.parse(b.start), b.views]));
  const max = Math.max(1, ...views.values());
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 240 60');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `Views per hour over the last day, at most ${max}`);
  slots.forEach((start, i) => {
    const n = views.get(start) ?? 0;
    const bar = document.createElementNS(SVG, 'rect');
    const height = Math.round((n / max) * 56);
    bar.setAttribute('x', String(i * 10 + 1));
    bar.setAttribute('y', String(58 - height));
    bar.setAttribute('width', '8');
    bar.setAttribute('height', String(Math.max(height, n > 0 ? 1 : 0)));
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${new Date(start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${n} views`;
    bar.append(title);
    svg.append(bar);
  });
  return h('figure', { class: 'analytics-chart' }, svg as unknown as HTMLElement, h('figcaption', {}, 'Views per hour, last 24 h'));
}
