/**
 * The final report as one self-contained HTML page: inline CSS and inline SVG charts,
 * no scripts, fonts or images from anywhere, so it can be mailed or archived as is.
 */
import { LATENCY_METRICS, type LatencyMetric } from './latency.ts';
import type { LoadtestReport } from './report.ts';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];

interface Series {
  name: string;
  points: [number, number][];
}

export function renderHtmlReport(r: LoadtestReport): string {
  const v = r.verify;
  const measured = LATENCY_METRICS.filter((m) => r.latency[m].count > 0);
  const verdict = r.ok
    ? `<p class="ok">PASS: every acknowledged write is on the server once and every watcher saw every comment (lost 0, duplicates 0, gaps 0).</p>`
    : `<p class="fail">FAIL: lost acknowledged writes ${v.lost}, duplicates ${v.duplicates}, gaps ${r.gaps}.</p>`;
  const sections = [
    `<h1>tremolo load test: ${esc(r.scenario)}</h1>`,
    `<p>${esc(r.description)}. Started ${esc(r.startedAt)}, load phase ${r.durationS} s, ${r.options.users} users on ${r.options.accounts} accounts, ${r.options.videos} videos, ${r.options.processes} process(es), seed ${r.options.seed}.</p>`,
    verdict,
    `<h2>Summary</h2>`,
    table(
      ['', ''],
      [
        ['targets', r.options.targets.join(', ')],
        ['connections established / failed', `${r.connections.established} / ${sum(r.connections.failed)} ${codes(r.connections.failed)}`],
        ['peak open connections', String(r.connections.peakOpen)],
        ['dropped / reconnected', `${r.connections.dropped} / ${r.connections.reconnected}`],
        ['events delivered', `${r.delivery.events} (${r.delivery.eventsPerSec}/s): ${r.delivery.counters} counters, ${r.delivery.comments} comments`],
        ['HTTP requests', `${r.http.requests} (${r.http.perSec}/s) ${codes(r.http.errors)}`],
        ['like / comment acks', `${r.writes.likeAcks} / ${r.writes.commentAcks} (retried ${r.writes.commentsRetried}, re-sent on purpose ${r.writes.commentsResent})`],
        ['deliveries missed (likes / comments)', `${r.delivery.likesMissed} / ${r.delivery.commentDeliveriesMissed}`],
      ],
    ),
    `<h2>Acknowledgements</h2>`,
    table(
      ['event', 'ok', 'errors'],
      Object.entries(r.acks).map(([event, a]) => [event, String(a.ok), codes(a.errors) || '0']),
    ),
    `<h2>Latency (ms)</h2>`,
    table(
      ['metric', 'what', 'count', 'p50', 'p90', 'p99', 'max'],
      measured.map((m) => {
        const l = r.latency[m];
        return [m, l.what, String(l.count), fmt(l.p50), fmt(l.p90), fmt(l.p99), fmt(l.max)];
      }),
    ),
    `<h2>Latency over time (p99 per second, ms)</h2>`,
    lineChart(measured.map((m) => ({ name: m, points: r.latencyTimeline[m].map((p) => [p.t, p.p99]) })), 'ms', true),
    `<h2>Latency over time (p50 per second, ms)</h2>`,
    lineChart(measured.map((m) => ({ name: m, points: r.latencyTimeline[m].map((p) => [p.t, p.p50]) })), 'ms', true),
    `<h2>Latency histograms</h2>`,
    `<div class="grid">${measured.map((m) => histogram(m, r)).join('')}</div>`,
    `<h2>Rates per second</h2>`,
    lineChart(
      [
        { name: 'events delivered', points: r.timeline.map((p) => [p.t, p.events]) },
        { name: 'acks ok', points: r.timeline.map((p) => [p.t, p.acksOk]) },
        { name: 'ack errors', points: r.timeline.map((p) => [p.t, p.ackErrors]) },
        { name: 'HTTP requests', points: r.timeline.map((p) => [p.t, p.http]) },
        { name: 'connects', points: r.timeline.map((p) => [p.t, p.connects]) },
      ],
      '/s',
    ),
    `<h2>Open connections</h2>`,
    lineChart([{ name: 'open', points: r.timeline.map((p) => [p.t, p.open]) }], ''),
    `<h2>Server</h2>`,
    table(
      ['target', 'peak RSS (MB)', 'mean CPU %', 'peak CPU %'],
      r.server.map((s) => [s.target, s.available ? fmt(s.peakRssMb) : 'n/a', s.available ? fmt(s.meanCpuPercent) : 'n/a', s.available ? fmt(s.peakCpuPercent) : 'n/a']),
    ),
    lineChart(r.server.map((s) => ({ name: `RSS MB ${s.target}`, points: s.samples.map((p) => [p.t, p.rssMb]) })), 'MB'),
    lineChart(r.server.map((s) => ({ name: `CPU % ${s.target}`, points: s.samples.flatMap((p) => (p.cpuPercent === undefined ? [] : [[p.t, p.cpuPercent]])) })), '%'),
    `<h2>Final check</h2>`,
    verdict,
    table(
      ['', ''],
      [
        ['like pairs (liked / uncertain / checked)', `${v.likes.pairs} (${v.likes.liked} / ${v.likes.uncertain} / ${v.likes.pairsChecked})`],
        ['lost likes / lost unlikes', `${v.likes.lostLikes} / ${v.likes.lostUnlikes}`],
        ['like count shortfall / excess', `${v.likes.countShortfall} / ${v.likes.countExcess}`],
        ['comments acknowledged / found / lost', `${v.comments.acknowledged} / ${v.comments.found} / ${v.comments.lost}`],
        ['duplicate comment ids / keys stored twice / re-send mismatches', `${v.comments.duplicateIds} / ${v.comments.duplicateKeys} / ${v.comments.resendMismatches}`],
        ['replies acknowledged / lost / listed twice', `${v.replies.acknowledged} / ${v.replies.lost} / ${v.replies.duplicates}`],
        [
          'comment like pairs (liked / uncertain) on comments; count shortfall / excess',
          `${v.commentLikes.pairs} (${v.commentLikes.liked} / ${v.commentLikes.uncertain}) on ${v.commentLikes.comments}; ${v.commentLikes.countShortfall} / ${v.commentLikes.countExcess}`,
        ],
      ],
    ),
    v.examples.length ? `<pre>${esc(v.examples.join('\n'))}</pre>` : '',
    `<h2>Options</h2><pre>${esc(JSON.stringify(r.options, null, 2))}</pre>`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tremolo load test: ${esc(r.scenario)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#111;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f5}.ok{color:#15803d;font-weight:600}.fail{color:#b91c1c;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1rem}
svg{background:#fafafa;border:1px solid #e5e7eb}pre{background:#f4f4f5;padding:.6rem;overflow:auto}
.legend span{margin-right:1rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
</style></head><body>
${sections.join('\n')}
</body></html>
`;
}

function lineChart(series: Series[], unit: string, logScale = false): string {
  const data = series.filter((s) => s.points.length > 0);
  if (data.length === 0) return '<p>(no data)</p>';
  const W = 1000;
  const H = 260;
  const L = 60;
  const B = 30;
  const xs = data.flatMap((s) => s.points.map(([x]) => x));
  const ys = data.flatMap((s) => s.points.map(([, y]) => y));
  const xMax = Math.max(1, ...xs);
  const yMaxRaw = Math.max(...ys, 0);
  const yMin = logScale ? Math.max(0.01, Math.min(...ys.filter((y) => y > 0), yMaxRaw || 1)) : 0;
  const yMax = logScale ? Math.max(yMaxRaw, yMin * 10) : niceCeil(yMaxRaw || 1);
  const fy = (y: number) => {
    const f = logScale ? (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin)) : y / yMax;
    return H - B - f * (H - B - 10);
  };
  const fx = (x: number) => L + (x / xMax) * (W - L - 10);
  const ticks = logScale ? decades(yMin, yMax) : [0, yMax / 4, yMax / 2, (3 * yMax) / 4, yMax];
  const grid = ticks
    .map((t) => `<line x1="${L}" x2="${W - 10}" y1="${fy(t).toFixed(1)}" y2="${fy(t).toFixed(1)}" stroke="#e5e7eb"/><text x="${L - 6}" y="${(fy(t) + 4).toFixed(1)}" text-anchor="end" font-size="11">${fmt(t)}</text>`)
    .join('');
  const xTicks = [0, xMax / 4, xMax / 2, (3 * xMax) / 4, xMax]
    .map((t) => `<text x="${fx(t).toFixed(1)}" y="${H - 10}" text-anchor="middle" font-size="11">${fmt(t)} s</text>`)
    .join('');
  const lines = data
    .map((s, i) => {
      const color = COLORS[i % COLORS.length];
      const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${fx(x).toFixed(1)},${fy(y).toFixed(1)}`).join('');
      return `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`;
    })
    .join('');
  const legend = data.map((s, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.name)}</span>`).join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img"><text x="6" y="14" font-size="11">${esc(unit)}${logScale ? ' (log)' : ''}</text>${grid}${xTicks}${lines}</svg><div class="legend">${legend}</div>`;
}

function histogram(metric: LatencyMetric, r: LoadtestReport): string {
  const buckets = r.histograms[metric];
  const W = 340;
  const H = 180;
  const B = 40;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const bw = (W - 20) / Math.max(1, buckets.length);
  const bars = buckets
    .map((b, i) => {
      const h = (b.count / max) * (H - B - 20);
      const x = 10 + i * bw;
      return `<rect x="${x.toFixed(1)}" y="${(H - B - h).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="#2563eb"><title>&le; ${b.le} ms: ${b.count}</title></rect><text x="${(x + bw / 2).toFixed(1)}" y="${H - B + 12}" font-size="9" text-anchor="middle">${fmt(b.le)}</text>`;
    })
    .join('');
  return `<div><strong>${esc(metric)}</strong> (count per bucket, upper bound in ms)<svg viewBox="0 0 ${W} ${H}" width="100%" role="img">${bars}</svg></div>`;
}

function table(head: string[], rows: string[][]): string {
  const th = head.some(Boolean) ? `<tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>` : '';
  return `<table>${th}${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const codes = (o: Record<string, number>) =>
  Object.entries(o)
    .map(([c, n]) => `${c}: ${n}`)
    .join(', ');

function fmt(n: number): string {
  if (n >= 100) return String(Math.round(n));
  if (n >= 10) return n.toFixed(1).replace(/\.0$/, '');
  return String(Math.round(n * 100) / 100);
}

function niceCeil(v: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function decades(min: number, max: number): number[] {
  const out: number[] = [];
  for (let d = Math.pow(10, Math.floor(Math.log10(min))); d <= max * 1.0001; d *= 10) if (d >= min / 1.0001) out.push(d);
  return out.length ? out : [min, max];
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
