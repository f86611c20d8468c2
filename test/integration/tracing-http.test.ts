/**
 * The server span of an HTTP request (transport/http/server.ts, RequestSpans): started in the
 * server's one onRequest hook, ended in its one onResponse hook, or when the client gives up.
 * What runs in it without a global hook of its own: a route's preHandlers (wrapped when the
 * route is added) and its handler. Exported over OTLP/HTTP to a real receiver in this process.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { createMetrics } from '../../src/metrics.ts';
import { MemoryRateLimitStore } from '../../src/storage/rate-limits.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { OriginPolicy } from '../../src/transport/http/origins.ts';
import { RateLimits } from '../../src/transport/http/rate-limits.ts';
import { createHttpServer } from '../../src/transport/http/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';

describe('HTTP request spans', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let app: FastifyInstance;
  let url: string;

  before(async () => {
    receiver = await startOtlpReceiver();
    tracing = createOtelTracing({ serviceName: 'http-spans', serviceVersion: 'test', defaultRatio: 1, rules: [], exporterUrl: receiver.url, env: {} });
    const config = loadConfig({ LOG_LEVEL: 'silent' });
    app = createHttpServer({
      config,
      tokens: new TokenService({ secret: config.jwtSecret, issuer: 'tremolo', audience: 'tremolo', ttlS: 60 }),
      limits: new RateLimits({ ipPerMin: 1000, userPerMin: 1000, loginPerMin: 1000, counters: new MemoryRateLimitStore() }),
      origins: new OriginPolicy({ listed: ['https://allowed.example'] }),
      metrics: createMetrics({ exemplars: true }),
      logger: false,
      tracing,
    });
    // spans started synchronously by each stage, so each shows which span was active there
    const mark = (name: string) => tracing.start(name).end();
    app.get(
      '/t/stages',
      {
        preHandler: [
          (_req, _reply, done) => {
            mark('pre.callback');
            done();
          },
          async () => {
            mark('pre.async');
          },
        ],
      },
      async () => {
        mark('handler');
        return { ok: true };
      },
    );
    app.post('/t/body', async () => ({ ok: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app.close();
    await tracing.shutdown();
    await receiver.close();
  });

  const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);

  it("runs a route's preHandlers, callback or async, and its handler in the request's span", async () => {
    const client = clientTraceparent();
    const res = await fetch(`${url}/t/stages?secret=x`, { headers: { traceparent: client.traceparent } });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('x-request-id'), 'the request id header, set in the same hook');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    await eventually(async () => {
      await tracing.flush();
      return spansOf(client.traceId).length >= 4;
    }, 'the request and its stages are exported');
    const spans = spansOf(client.traceId);
    const request = spans.find((s) => s.name === 'GET /t/stages');
    assert.ok(request, `a server span named after the route: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(request.kind, 2, 'server');
    assert.equal(request.parentSpanId, client.spanId, 'continues the caller');
    assert.equal(request.attributes['http.route'], '/t/stages');
    assert.equal(request.attributes['http.request.method'], 'GET');
    assert.equal(request.attributes['url.scheme'], 'http');
    assert.equal(request.attributes['http.response.status_code'], 200);
    assert.equal(request.attributes['enduser.id'], undefined, 'no user on an anonymous request');
    assert.equal(request.statusCode, 0);
    for (const stage of ['pre.callback', 'pre.async', 'handler']) {
      const s = spans.find((x) => x.name === stage);
      assert.ok(s, `${stage} is in the trace`);
      assert.equal(s.parentSpanId, request.spanId, `${stage} ran in the request's span`);
    }
    for (const s of spans) for (const v of Object.values(s.attributes)) assert.ok(!String(v).includes('secret'), 'no query string recorded');
    assert.deepEqual(new Set(receiver.contentTypes), new Set(['application/x-protobuf']), 'OTLP/HTTP in protobuf unless told otherwise');
  });

  it('ends the span of a request whose client gave up, marked failed and without a status', async () => {
    const client = clientTraceparent();
    const arrived = new Promise<void>((resolve) => app.server.once('request', () => resolve()));
    const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // the headers and part of the body: the server waits for the rest, which never comes
    socket.write(
      `POST /t/body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\ntraceparent: ${client.traceparent}\r\n\r\n{"a":`,
    );
    await arrived; // fastify's onRequest, where the span starts, ran in the same handler
    socket.destroy();
    await eventually(async () => {
      await tracing.flush();
      return spansOf(client.traceId).some((s) => s.name === 'POST /t/body');
    }, 'the aborted request span is exported');
    const span = spansOf(client.traceId).find((s) => s.name === 'POST /t/body')!;
    assert.equal(span.statusCode, 2, 'error');
    assert.equal(span.attributes['http.response.status_code'], undefined, 'no answer was sent');
  });

  it('answers a preflight from the same hook, before any span or limit', async () => {
    const client = clientTraceparent();
    const res = await fetch(`${url}/t/stages`, {
      method: 'OPTIONS',
      headers: { origin: 'https://allowed.example', 'access-control-request-method': 'GET', traceparent: client.traceparent },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://allowed.example');
    assert.ok(res.headers.get('x-request-id'));
    const refused = await fetch(`${url}/t/stages`, {
      method: 'OPTIONS',
      headers: { origin: 'https://other.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'E_ORIGIN_NOT_ALLOWED');
    // a later request's span is exported; the preflight's never started
    const later = clientTraceparent();
    await fetch(`${url}/t/stages`, { headers: { traceparent: later.traceparent } });
    await eventually(async () => {
      await tracing.flush();
      return spansOf(later.traceId).some((s) => s.name === 'GET /t/stages');
    }, 'the later request is exported');
    assert.deepEqual(spansOf(client.traceId), []);
  });
});
