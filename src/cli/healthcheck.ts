/**
 * `tremolo healthcheck`: exits 0 only when the target answers 200 with a JSON body
 * whose status is UP; otherwise prints one line saying why and exits 1.
 * Used by the Dockerfile's HEALTHCHECK, so it must never hang past its timeout.
 */
export interface HealthcheckOptions {
  target: string;
  path: string;
  timeoutMs: number;
}

export type HealthcheckResult = { ok: true; line: string } | { ok: false; line: string };

export async function healthcheck(opts: HealthcheckOptions): Promise<HealthcheckResult> {
  const base = /^https?:\/\//.test(opts.target) ? opts.target : `http://${opts.target}`;
  let url: URL;
  try {
    url = new URL(opts.path, base);
  } catch {
    return { ok: false, line: `invalid target ${JSON.stringify(opts.target)}: expected HOST:PORT` };
  }
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), headers: { accept: 'application/json' } });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return { ok: false, line: `timeout: no answer from ${url.href} within ${opts.timeoutMs} ms` };
    const code = e.cause?.code;
    if (code === 'ECONNREFUSED') return { ok: false, line: `refused: nothing listens at ${url.host}` };
    return { ok: false, line: `unreachable: ${url.href}: ${code ?? e.cause?.message ?? e.message}` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, line: `non-JSON answer from ${url.href} (HTTP ${res.status})` };
  }
  const status = (body as { status?: unknown })?.status;
  if (status === 'DOWN') return { ok: false, line: `DOWN: ${url.href} reports status DOWN (HTTP ${res.status})` };
  if (res.status !== 200) return { ok: false, line: `wrong status code: HTTP ${res.status} from ${url.href}` };
  if (status !== 'UP') return { ok: false, line: `unexpected body from ${url.href}: status is ${JSON.stringify(status)}` };
  return { ok: true, line: `UP: ${url.href}` };
}

/** "5s", "500ms", "2m" or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)}: use e.g. 500ms, 5s, 1m`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm']);
}
