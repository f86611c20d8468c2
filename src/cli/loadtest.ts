/**
 * `tremolo loadtest`: drives a running server through the public SDK, prints progress,
 * writes the JSON and HTML reports, and exits 1 when an acknowledged write was lost or
 * duplicated, or a watcher saw a gap (2 for bad options).
 */
import { CLI_USAGE, parseCliArgs } from '../loadtest/options.ts';
import type { LoadtestOptions } from '../loadtest/options.ts';
import { progressPrinter } from '../loadtest/progress.ts';
import type { LoadtestReport } from '../loadtest/report.ts';

export async function runLoadtestCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(CLI_USAGE);
    return 0;
  }
  let options: LoadtestOptions;
  try {
    options = parseCliArgs(args, process.stderr.isTTY === true);
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${CLI_USAGE}`);
    return 2;
  }
  const { runLoadtest } = await import('../loadtest/coordinator.ts');
  const printer = progressPrinter(options.progress);
  const abort = new AbortController();
  const onSignal = () => {
    printer.step('stopping early (signal); the final check still runs');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let report: LoadtestReport;
  try {
    report = await runLoadtest(options, {
      onProgress: (p) => printer.progress(p),
      onStep: (s) => printer.step(s),
      signal: abort.signal,
    });
  } finally {
    printer.end();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (options.progress === 'bar') console.log(summary(report, options));
  else console.log(JSON.stringify({ type: 'report', ...compact(report, options) }));
  return report.ok ? 0 : 1;
}

/** The report without its per-second series, for one JSON line. */
function compact(r: LoadtestReport, o: LoadtestOptions) {
  const { timeline: _t, latencyTimeline: _l, histograms: _h, server, ...rest } = r;
  return { ...rest, server: server.map(({ samples: _s, ...s }) => s), files: { json: o.jsonPath ?? null, html: o.htmlPath ?? null } };
}

function summary(r: LoadtestReport, o: LoadtestOptions): string {
  const l = (m: keyof LoadtestReport['latency']) => {
    const s = r.latency[m];
    return s.count ? `p50 ${s.p50} ms, p90 ${s.p90} ms, p99 ${s.p99} ms, max ${s.max} ms (n=${s.count})` : '-';
  };
  const v = r.verify;
  const lines = [
    `scenario ${r.scenario}: ${r.durationS} s, ${r.options.users} users, ${r.options.processes} process(es)`,
    `connections  ${r.connections.established} established, ${Object.values(r.connections.failed).reduce((a, b) => a + b, 0)} failed, peak open ${r.connections.peakOpen}`,
    `acks         ${Object.entries(r.acks)
      .map(([e, a]) => `${e} ${a.ok}${Object.keys(a.errors).length ? ` (${Object.entries(a.errors).map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}`)
      .join('; ')}`,
    `delivery     ${r.delivery.events} events (${r.delivery.eventsPerSec}/s)`,
    `like>counter ${l('likeToCounter')}`,
    `comment>view ${l('commentDelivery')}`,
    `http         ${r.http.requests} requests (${r.http.perSec}/s), ${l('http')}`,
    ...r.server.map((s) => `server       ${s.target}: peak RSS ${s.peakRssMb} MB, mean CPU ${s.meanCpuPercent}%`),
    `${r.ok ? 'check        PASS' : 'check        FAIL'}: lost ${v.lost}, duplicates ${v.duplicates}, gaps ${r.gaps} (${r.delivery.commentDeliveriesMissed} comment deliveries missed, ${r.delivery.resets} resets)${v.ok ? '' : `\n  ${v.examples.slice(0, 5).join('\n  ')}`}`,
    `reconnects   ${r.connections.dropped} dropped, ${r.connections.reconnected} reconnected`,
    ...(o.jsonPath ? [`report       ${o.jsonPath}, ${o.htmlPath}`] : []),
  ];
  return lines.join('\n');
}
