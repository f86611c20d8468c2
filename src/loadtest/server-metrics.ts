/**
 * Server resource use, read from each target's Prometheus endpoint (the standard
 * process metrics prom-client exports): resident memory, CPU seconds, open sockets.
 * CPU % is the CPU time used between two scrapes over the wall time between them
 * (100% = one core busy).
 */
export interface ServerSample {
  /** Seconds since the run started. */
  t: number;
  rssMb: number;
  cpuPercent: number | undefined;
  sockets: number | undefined;
}

export interface ServerSummary {
  target: string;
  available: boolean;
  peakRssMb: number;
  /** CPU over the whole load phase. */
  meanCpuPercent: number;
  peakCpuPercent: number;
  samples: ServerSample[];
}

interface Raw {
  at: number;
  rss: number;
  cpu: number;
  sockets: number | undefined;
}

export class ServerWatch {
  private readonly last = new Map<string, Raw>();
  private readonly first = new Map<string, Raw>();
  private readonly samples = new Map<string, ServerSample[]>();
  private readonly failed = new Set<string>();

  /**
   * @param targets server base URLs (the keys of the summary)
   * @param scrape per target, its metrics URL and the METRICS_TOKEN to send, if any
   */
  constructor(
    private readonly targets: string[],
    private readonly startedAt: number,
    private readonly scrapeFrom: { urls: string[]; token?: string | undefined },
  ) {}

  /** Scrapes every target once; a target that does not answer is marked unavailable. */
  async scrape(): Promise<void> {
    await Promise.all(this.targets.map((t, i) => this.scrapeOne(t, this.scrapeFrom.urls[i] ?? new URL('/metrics', t).href)));
  }

  /** Starts the CPU average over from the latest scrape (the start of the load phase). */
  markLoadStart(): void {
    for (const [t, raw] of this.last) this.first.set(t, raw);
  }

  latest(): { rssMb: number; cpuPercent: number | undefined } {
    let rssMb = 0;
    let cpu: number | undefined;
    for (const list of this.samples.values()) {
      const s = list.at(-1);
      if (!s) continue;
      rssMb += s.rssMb;
      if (s.cpuPercent !== undefined) cpu = (cpu ?? 0) + s.cpuPercent;
    }
    return { rssMb: round(rssMb), cpuPercent: cpu === undefined ? undefined : round(cpu) };
  }

  summary(): ServerSummary[] {
    return this.targets.map((target) => {
      const samples = this.samples.get(target) ?? [];
      const first = this.first.get(target);
      const last = this.last.get(target);
      const mean = first && last && last.at > first.at ? ((last.cpu - first.cpu) / ((last.at - first.at) / 1000)) * 100 : 0;
      return {
        target,
        available: !this.failed.has(target) && samples.length > 0,
        peakRssMb: round(Math.max(0, ...samples.map((s) => s.rssMb))),
        meanCpuPercent: round(mean),
        peakCpuPercent: round(Math.max(0, ...samples.map((s) => s.cpuPercent ?? 0))),
        samples,
      };
    });
  }

  private async scrapeOne(target: string, url: string): Promise<void> {
    let text: string;
    try {
      const { token } = this.scrapeFrom;
      const res = await fetch(url, { signal: AbortSignal.timeout(2000), ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
    } catch {
      this.failed.add(target);
      return;
    }
    const rss = metric(text, 'process_resident_memory_bytes');
    const cpu = metric(text, 'process_cpu_seconds_total');
    if (rss === undefined || cpu === undefined) {
      this.failed.add(target);
      return;
    }
    const raw: Raw = { at: Date.now(), rss, cpu, sockets: metric(text, 'tremolo_live_sockets') };
    const prev = this.last.get(target);
    this.last.set(target, raw);
    const list = this.samples.get(target) ?? [];
    this.samples.set(target, list);
    list.push({
      t: round((raw.at - this.startedAt) / 1000),
      rssMb: round(rss / 2 ** 20),
      // over a few ms (the final scrape right after the last tick's) the figure is noise: 3,106 % seen
      cpuPercent: prev && raw.at - prev.at >= MIN_CPU_SPAN_MS ? round(((cpu - prev.cpu) / ((raw.at - prev.at) / 1000)) * 100) : undefined,
      sockets: raw.sockets,
    });
  }
}

/** The value of an unlabelled sample line `name value`. */
export function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{\\})? ([0-9.eE+-]+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

const round = (v: number) => Math.round(v * 10) / 10;

/** The shortest span between two scrapes that a sample's CPU percent is computed over. */
const MIN_CPU_SPAN_MS = 500;
