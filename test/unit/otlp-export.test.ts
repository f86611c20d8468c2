import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { nanos, OtlpJsonEncoder, OtlpJsonExporter, otlpHttpTarget, type ExportResultLike, type SpanRecord } from '../../src/telemetry/otlp-export.ts';

const resource = { attributes: { 'service.name': 'svc', 'service.version': '1' } };
const scope = { name: 'tremolo', version: '1' };
const ctx = (traceId: string, spanId: string, traceFlags = 1, isRemote = false) => ({ traceId, spanId, traceFlags, isRemote });

function record(over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    name: 'GET /v1/feed',
    kind: 1,
    spanContext: () => ctx('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'),
    parentSpanContext: undefined,
    startTime: [1_764_000_000, 5],
    endTime: [1_764_000_001, 123_456_789],
    status: { code: 0 },
    attributes: { 'http.route': '/v1/feed', 'http.response.status_code': 200, ratio: 0.5, ok: true, note: 'a "quoted"\nline' },
    links: [],
    events: [],
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
    resource,
    instrumentationScope: scope,
    ...over,
  };
}

describe('OTLP JSON encoding', () => {
  it('writes spans as the OTLP JSON that receivers read: hex ids, nanosecond strings, kind + 1, typed values', () => {
    const parent = ctx('0af7651916cd43dd8448eb211c80319c', '00f067aa0ba902b7', 1, true);
    const linked = ctx('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b8');
    const payload = JSON.parse(
      new OtlpJsonEncoder().encode([
        record(),
        record({
          name: 'actor.turn video',
          kind: 0,
          parentSpanContext: parent,
          status: { code: 2, message: 'E_BUSY' },
          links: [{ context: linked }],
          events: [{ name: 'exception', time: [1_764_000_000, 900], attributes: { 'exception.type': 'TremoloError' } }],
        }),
      ]).toString(),
    );
    assert.equal(payload.resourceSpans.length, 1);
    const [rs] = payload.resourceSpans;
    assert.deepEqual(rs.resource, {
      attributes: [
        { key: 'service.name', value: { stringValue: 'svc' } },
        { key: 'service.version', value: { stringValue: '1' } },
      ],
      droppedAttributesCount: 0,
    });
    assert.deepEqual(rs.scopeSpans[0].scope, { name: 'tremolo', version: '1' });
    const [root, turn] = rs.scopeSpans[0].spans;
    assert.equal(root.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(root.parentSpanId, undefined);
    assert.equal(root.kind, 2);
    assert.equal(root.startTimeUnixNano, '1764000000000000005');
    assert.equal(root.endTimeUnixNano, '1764000001123456789');
    assert.deepEqual(root.attributes, [
      { key: 'http.route', value: { stringValue: '/v1/feed' } },
      { key: 'http.response.status_code', value: { intValue: 200 } },
      { key: 'ratio', value: { doubleValue: 0.5 } },
      { key: 'ok', value: { boolValue: true } },
      { key: 'note', value: { stringValue: 'a "quoted"\nline' } },
    ]);
    assert.deepEqual(root.status, { code: 0 });
    assert.equal(root.flags, 0x101);
    assert.equal(turn.parentSpanId, '00f067aa0ba902b7');
    assert.equal(turn.kind, 1);
    assert.deepEqual(turn.status, { code: 2, message: 'E_BUSY' });
    assert.equal(turn.flags, 0x301, 'a remote parent sets the is-remote bit');
    assert.deepEqual(turn.links, [{ attributes: [], spanId: '00f067aa0ba902b8', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', droppedAttributesCount: 0, flags: 0x101 }]);
    assert.deepEqual(turn.events, [
      { attributes: [{ key: 'exception.type', value: { stringValue: 'TremoloError' } }], name: 'exception', timeUnixNano: '1764000000000000900', droppedAttributesCount: 0 },
    ]);
  });

  it('groups spans by resource and scope', () => {
    const other = { attributes: { 'service.name': 'other' } };
    const payload = JSON.parse(new OtlpJsonEncoder().encode([record(), record({ resource: other }), record(), record({ instrumentationScope: { name: 'x' } })]).toString());
    assert.deepEqual(
      payload.resourceSpans.map((rs: { scopeSpans: { scope: { name: string }; spans: unknown[] }[] }) => rs.scopeSpans.map((ss) => `${ss.scope.name}:${ss.spans.length}`)),
      [['tremolo:2', 'x:1'], ['tremolo:1']],
    );
  });

  it('turns [seconds, nanoseconds] into a decimal string, exactly', () => {
    assert.equal(nanos([1_764_000_000, 0]), '1764000000000000000');
    assert.equal(nanos([1, 999_999_999]), '1999999999');
    assert.equal(nanos([0, 42]), '42');
  });
});

describe('OTLP endpoint from the standard variables', () => {
  it('reads the endpoint, headers and timeout as the SDK does, and leaves https and gzip to the SDK', () => {
    assert.equal(otlpHttpTarget({})?.url.href, 'http://localhost:4318/v1/traces');
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })?.url.href, 'http://collector:4318/v1/traces');
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })?.url.href, 'http://collector:4318/v1/traces');
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:1/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' })?.url.href, 'http://c:1/custom');
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' }, 'http://given:2/v1/traces')?.url.href, 'http://given:2/v1/traces');
    const t = otlpHttpTarget({ OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b,x=1', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x=2', OTEL_EXPORTER_OTLP_TIMEOUT: '2500' });
    assert.deepEqual(t?.headers, { 'api-key': 'a b', x: '2' });
    assert.equal(t?.timeoutMs, 2500);
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318' }), undefined);
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }), undefined);
    assert.equal(otlpHttpTarget({ OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'none' })?.url.href, 'http://localhost:4318/v1/traces');
  });
});

describe('OTLP export over one kept-alive connection', () => {
  const servers: { close(): void }[] = [];
  after(() => servers.forEach((s) => s.close()));

  /** An HTTP server answering each POST with `answer(n)` (n from 0), counting connections. */
  async function receiver(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
    let n = 0;
    const bodies: string[] = [];
    const connections = new Set<Socket>();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString());
        answer(n++, req, res);
      });
    });
    server.on('connection', (s) => connections.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push({ close: () => (server.closeAllConnections(), server.close()) });
    return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`), bodies, connections };
  }

  const exportOnce = (exporter: OtlpJsonExporter, spans: SpanRecord[]) => new Promise<ExportResultLike>((resolve) => exporter.export(spans, resolve));

  it('posts every batch on the same connection, whatever the framing of the answers', async () => {
    const r = await receiver((n, _req, res) => {
      if (n === 0) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else if (n === 1) {
        res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length given
        res.write('{');
        res.end('}');
      } else res.writeHead(200, { 'content-length': '2' }).end('{}');
    });
    const exporter = new OtlpJsonExporter({ url: r.url, headers: { 'x-api-key': 'k' }, timeoutMs: 5000 });
    for (let i = 0; i < 3; i++) assert.deepEqual(await exportOnce(exporter, [record({ name: `span ${i}` })]), { code: 0 });
    assert.equal(r.bodies.length, 3);
    assert.deepEqual(
      r.bodies.map((b) => JSON.parse(b).resourceSpans[0].scopeSpans[0].spans[0].name),
      ['span 0', 'span 1', 'span 2'],
    );
    assert.equal(r.connections.size, 1);
    await exporter.shutdown();
    assert.deepEqual(await exportOnce(exporter, [record()]), { code: 1, error: new Error('exporter shut down') });
  });

  it('tries a retryable answer again (Retry-After), and gives up at once on a client error', async () => {
    const r = await receiver((n, _req, res) => {
      if (n === 0) res.writeHead(503, { 'retry-after': '0' }).end();
      else if (n === 1) res.writeHead(200).end('{}');
      else res.writeHead(400).end('bad');
    });
    const exporter = new OtlpJsonExporter({ url: r.url, headers: {}, timeoutMs: 5000 });
    assert.deepEqual(await exportOnce(exporter, [record()]), { code: 0 });
    assert.equal(r.bodies.length, 2);
    const refused = await exportOnce(exporter, [record()]);
    assert.equal(refused.code, 1);
    assert.match(String(refused.error), /400/);
    assert.equal(r.bodies.length, 3, 'a 400 is not tried again');
    await exporter.shutdown();
  });

  it('opens a new connection when the server closed the last one, and reads a response that ends with its connection', async () => {
    // a raw server: the first answer has no length and closes; the next one is kept alive
    let accepted = 0;
    const requests: string[] = [];
    const server = createTcpServer((socket) => {
      const conn = accepted++;
      let buf = '';
      socket.on('data', (d: Buffer) => {
        buf += d.toString();
        const head = buf.indexOf('\r\n\r\n');
        if (head < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, head))?.[1]);
        if (buf.length < head + 4 + length) return;
        requests.push(buf.slice(0, buf.indexOf('\r\n')));
        buf = '';
        if (conn === 0) socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}');
        else socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const exporter = new OtlpJsonExporter({ url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/collect?x=1`), headers: {}, timeoutMs: 5000 });
    for (let i = 0; i < 3; i++) assert.deepEqual(await exportOnce(exporter, [record()]), { code: 0 });
    assert.deepEqual(requests, ['POST /collect?x=1 HTTP/1.1', 'POST /collect?x=1 HTTP/1.1', 'POST /collect?x=1 HTTP/1.1']);
    assert.equal(accepted, 2);
    await exporter.shutdown();
  });
});
