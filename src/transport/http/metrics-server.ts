/**
 * Prometheus metrics on their own listener (METRICS_HOST:METRICS_PORT, loopback by
 * default), never on the public port: they name versions, routes and socket counts, and a
 * scrape is expensive enough to be a lever for abuse. With METRICS_TOKEN a scrape must
 * send `Authorization: Bearer <token>`, which is what allows binding beyond loopback.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, type RegistryContentType } from 'prom-client';
import { TremoloError } from '../../protocol/errors.ts';
import { SECURITY_HEADERS } from './security-headers.ts';

export interface MetricsServerOptions {
  registry: Registry;
  host: string;
  /** 0 picks a free port. */
  port: number;
  token?: string | undefined;
}

export interface MetricsServer {
  /** `http://host:port/metrics` */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  // compared as digests: equal lengths for timingSafeEqual, and nothing learnt from timing
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = opts.token ? digest(`Bearer ${opts.token}`) : undefined;

  // The registry renders in one format at a time (its content type), so scrapes take turns:
  // one asking for OpenMetrics (with exemplars) never changes the format of one under way.
  let turn: Promise<unknown> = Promise.resolve();
  const scrape = (openMetrics: boolean): Promise<{ body: string; contentType: string }> => {
    const next = turn.then(async () => {
      // built for the Prometheus format (its type says so), switched here for this scrape only
      const registry = opts.registry as Registry<RegistryContentType>;
      if (!openMetrics) return { body: await registry.metrics(), contentType: registry.contentType };
      registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      try {
        return { body: await registry.metrics(), contentType: registry.contentType };
      } finally {
        registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
      }
    });
    turn = next.catch(() => undefined);
    return next;
  };

  const fail = (res: ServerResponse, e: TremoloError) => {
    res.writeHead(e.status, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: e.toJSON() }));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      return fail(res, new TremoloError('E_ROUTE_NOT_FOUND', 'Only GET /metrics is served here'));
    }
    if (expected) {
      const given = req.headers.authorization;
      if (!given) return fail(res, new TremoloError('E_TOKEN_MISSING', 'Metrics need Authorization: Bearer <METRICS_TOKEN>'));
      if (!timingSafeEqual(digest(given), expected)) return fail(res, new TremoloError('E_TOKEN_INVALID', 'Wrong metrics token'));
    }
    const { body, contentType } = await scrape(wantsOpenMetrics(req.headers.accept));
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) fail(res, new TremoloError('E_INTERNAL'));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`METRICS_PORT ${opts.port} on ${opts.host} is in use: give each process its own METRICS_PORT (0 picks a free one)`)
          : err,
      ),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether an Accept header asks for OpenMetrics (as Prometheus does, preferring it). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return typeof accept === 'string' && accept.length < 1024 && /(^|,)\s*application\/openmetrics-text\b/i.test(accept);
}
