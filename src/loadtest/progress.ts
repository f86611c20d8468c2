/**
 * Live progress: a one-line bar with current rates, redrawn in place, on a TTY; one
 * JSON object per line otherwise (for CI logs and other programs).
 */
import type { ProgressLine } from './coordinator.ts';

export function formatBar(p: ProgressLine, width = 24): string {
  const done = Math.max(0, Math.min(1, p.t / p.of));
  const filled = Math.round(done * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const ms = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v)}ms`);
  const parts = [
    `${bar} ${Math.min(p.t, p.of).toFixed(0)}/${p.of.toFixed(0)}s`,
    `conn ${p.connections}${p.connectFailures ? ` (fail ${p.connectFailures})` : ''}`,
    `acks ${short(p.rates.acksOk)}/s${p.ackErrors ? ` err ${p.ackErrors}` : ''}`,
    `events ${short(p.rates.events)}/s`,
    `http ${short(p.rates.http)}/s`,
    `like>ctr p99 ${ms(p.likeToCounterP99)}`,
    `cmt p99 ${ms(p.commentDeliveryP99)}`,
    `rss ${Math.round(p.server.rssMb)}MB cpu ${p.server.cpuPercent === undefined ? '-' : `${Math.round(p.server.cpuPercent)}%`}`,
  ];
  return parts.join(' | ');
}

function short(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n));
}

/** A progress printer for the chosen mode. */
export function progressPrinter(mode: 'bar' | 'json' | 'none', out: NodeJS.WriteStream = process.stderr, json: NodeJS.WritableStream = process.stdout) {
  let drawn = false;
  return {
    progress(p: ProgressLine): void {
      if (mode === 'bar') {
        const line = formatBar(p);
        const cols = out.columns ?? 160;
        out.write(`\r${line.slice(0, cols - 1)}\x1b[K`);
        drawn = true;
      } else if (mode === 'json') json.write(`${JSON.stringify(p)}\n`);
    },
    step(text: string): void {
      if (mode === 'bar') {
        this.end();
        out.write(`${text}...\n`);
      } else if (mode === 'json') json.write(`${JSON.stringify({ type: 'step', step: text })}\n`);
    },
    /** Leaves the bar's line. */
    end(): void {
      if (drawn) out.write('\n');
      drawn = false;
    },
  };
}
