/**
 * Sampling by what matters (TRACE_SAMPLE_RULES): a trace's root span is kept with the ratio of
 * the first rule whose pattern matches its operation, else with TRACE_SAMPLE_RATIO; every other
 * span follows its parent (parent-based), so a trace is kept or dropped whole.
 *
 * Rules are `pattern=ratio` separated by commas, e.g.
 *   `POST /uploads*=1,media.job*=1,video:watch=0.01`
 * A pattern matches the span name (`video:like`, `GET /videos/:id`, `media.job`) or, for HTTP
 * spans, the route template alone (`/uploads*`); `*` matches any run of characters.
 * Pure: parsed and evaluated without OpenTelemetry, so config.ts validates rules at start.
 */

export interface SampleRule {
  readonly pattern: string;
  readonly ratio: number;
  readonly test: (operation: string) => boolean;
}

export const MAX_SAMPLE_RULES = 64;

/** Parses TRACE_SAMPLE_RULES; throws a message naming the bad rule. */
export function parseSampleRules(raw: string): SampleRule[] {
  const rules: SampleRule[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.lastIndexOf('=');
    const pattern = eq > 0 ? item.slice(0, eq).trim() : '';
    const ratioText = eq > 0 ? item.slice(eq + 1).trim() : '';
    const ratio = Number(ratioText);
    if (!pattern || pattern.length > 200 || ratioText === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      throw new Error(`rule ${JSON.stringify(item.slice(0, 80))} is not pattern=ratio with a ratio from 0 to 1`);
    }
    rules.push({ pattern, ratio, test: globTest(pattern) });
  }
  if (rules.length > MAX_SAMPLE_RULES) throw new Error(`at most ${MAX_SAMPLE_RULES} rules`);
  return rules;
}

function globTest(pattern: string): (s: string) => boolean {
  if (!pattern.includes('*')) return (s) => s === pattern;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
  return (s) => re.test(s);
}

/** The ratio a root span of this operation is sampled with. */
export function ratioFor(rules: readonly SampleRule[], defaultRatio: number, name: string, route?: string): number {
  return ruleFor(rules, name, route)?.ratio ?? defaultRatio;
}

/** The first rule that matches the operation's name or route, if any. */
function ruleFor(rules: readonly SampleRule[], name: string, route: string | undefined): SampleRule | undefined {
  for (const r of rules) if (r.test(name) || (route !== undefined && r.test(route))) return r;
  return undefined;
}

/**
 * Which rule decides each operation's roots, remembered. Every root a tracer starts, sampled or
 * not, is matched against the rules, and a glob's test is a regular expression: with the default
 * rules that was four of them per request and per socket event (39 ns a root in a loop, 13
 * remembered). The operations are span names and route templates, a set the code bounds; past
 * `limit` of them the rest are matched each time rather than remembered.
 */
export class RuleMatches {
  readonly #byName = new Map<string, Map<string | undefined, SampleRule | null>>();
  #remembered = 0;

  constructor(
    private readonly rules: readonly SampleRule[],
    private readonly limit = 4_096,
  ) {}

  /** The ratio a root of this operation is sampled with: its rule's, or `defaultRatio` when no rule matches. */
  ratio(defaultRatio: number, name: string, route?: string): number {
    if (this.rules.length === 0) return defaultRatio;
    let byRoute = this.#byName.get(name);
    let rule = byRoute?.get(route);
    if (rule === undefined) {
      rule = ruleFor(this.rules, name, route) ?? null;
      if (this.#remembered < this.limit) {
        if (!byRoute) this.#byName.set(name, (byRoute = new Map()));
        byRoute.set(route, rule);
        this.#remembered++;
      }
    }
    return rule === null ? defaultRatio : rule.ratio;
  }
}

/**
 * The sampling decision for a trace id at `ratio`, the same on every process: the trace id's
 * last 8 hex digits read as a fraction (W3C trace ids are random there), so a trace sampled at 1%
 * is also sampled at 10%.
 */
export function sampledAt(traceId: string, ratio: number): boolean {
  return sampledTail(Number.parseInt(traceId.slice(-8), 16), ratio);
}

/** The same decision from the tail alone (a 32-bit integer), drawn before the trace id is made. */
export function sampledTail(tail: number, ratio: number): boolean {
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return Number.isFinite(tail) && tail / 0x1_0000_0000 < ratio;
}
