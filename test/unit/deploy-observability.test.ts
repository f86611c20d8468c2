/**
 * deploy/prometheus and deploy/grafana, tested like code: the rules pass `promtool check rules`
 * and their unit tests (`promtool test rules`); every dashboard query is valid PromQL (checked
 * by promtool as a recording rule) and every series a rule or panel reads is one tremolo exports.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createMetrics } from '../../src/metrics.ts';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function promtool(args: string[], cwd: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Dashboard {
  uid: string;
  title: string;
  panels: { title: string; targets: { expr: string }[] }[];
}

const dashboards = readdirSync(join(DEPLOY, 'grafana'))
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, json: JSON.parse(readFileSync(join(DEPLOY, 'grafana', f), 'utf8')) as Dashboard }));

/** Metric names a query reads: identifiers followed by `{`, `[` or `)`, minus PromQL's own words. */
function seriesIn(expr: string): string[] {
  const names = [...expr.matchAll(/\b([a-z_][a-z0-9_]*)\s*(?=\{|\[)/g)].map((m) => m[1]!);
  return names.filter((n) => !['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'rate', 'sum', 'max', 'vector'].includes(n));
}

/** Every series tremolo exports: the registry's, plus the gauges parts register when built. */
async function exported(): Promise<Set<string>> {
  const text = await createMetrics().registry.metrics();
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)/gm)) {
    const [name, type] = [m[1]!, m[2]!];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

function registeredInSource(name: string): boolean {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  return files(SRC).some((f) => readFileSync(f, 'utf8').includes(`'${name}'`));
}

describe('deploy/prometheus', () => {
  it('passes promtool check rules', () => {
    const r = promtool(['check', 'rules', 'tremolo-rules.yml'], join(DEPLOY, 'prometheus'));
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS: \d+ rules found/);
  });

  it('passes its unit tests (promtool test rules)', () => {
    const r = promtool(['test', 'rules', 'tremolo-rules.test.yml'], join(DEPLOY, 'prometheus'));
    assert.equal(r.status, 0, r.out);
  });

  it('has the alerts operators need', () => {
    const rules = readFileSync(join(DEPLOY, 'prometheus', 'tremolo-rules.yml'), 'utf8');
    for (const alert of ['TremoloHighErrorRatio', 'TremoloSlowRequests', 'TremoloStorageBreakerOpen', 'TremoloMediaQueueFull', 'TremoloEventLoopLag', 'TremoloMediaJobFailures', 'TremoloTraceSpansDropped']) {
      assert.match(rules, new RegExp(`alert: ${alert}\\n`));
    }
  });
});

describe('deploy/grafana', () => {
  it('has the four dashboards, each with queries', () => {
    assert.deepEqual(dashboards.map((d) => d.json.uid).sort(), ['tremolo-actors-storage', 'tremolo-live', 'tremolo-media', 'tremolo-overview']);
    for (const { file, json } of dashboards) {
      assert.ok(json.panels.length >= 4, `${file} has panels`);
      for (const p of json.panels) assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr.trim() !== ''), `${file}: ${p.title}`);
    }
  });

  it('queries only valid PromQL (promtool parses every query)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tremolo-dash-'));
    try {
      const lines = ['groups:', '  - name: dashboards', '    rules:'];
      let n = 0;
      for (const { json } of dashboards) {
        for (const p of json.panels) {
          for (const t of p.targets) lines.push(`      - record: dashboard:q${n++}`, `        expr: ${JSON.stringify(t.expr.replaceAll('$instance', '.*'))}`);
        }
      }
      writeFileSync(join(dir, 'queries.yml'), `${lines.join('\n')}\n`);
      const r = promtool(['check', 'rules', 'queries.yml'], dir);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, new RegExp(`SUCCESS: ${n} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads, in rules and dashboards, only series tremolo exports', async () => {
    const names = await exported();
    assert.ok(names.has('tremolo_http_request_duration_seconds_bucket'), 'the registry was read');
    const rules = readFileSync(join(DEPLOY, 'prometheus', 'tremolo-rules.yml'), 'utf8');
    const exprs = [
      ...[...rules.matchAll(/^\s+expr: (.+(?:\n\s{12,}.+)*)/gm)].map((m) => m[1]!),
      ...dashboards.flatMap((d) => d.json.panels.flatMap((p) => p.targets.map((t) => t.expr))),
    ];
    const unknown = new Set<string>();
    for (const e of exprs) {
      for (const s of seriesIn(e)) {
        if (s.startsWith('tremolo:')) continue; // recording rules
        // gauges other parts register when built (actor gauges, the storage breaker)
        if (!names.has(s) && !registeredInSource(s)) unknown.add(s);
      }
    }
    assert.deepEqual([...unknown], []);
  });
});
