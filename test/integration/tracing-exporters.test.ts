/**
 * Where spans go, and what operators are told of it: the standard switches OTEL_SDK_DISABLED
 * (tracing off whatever TRACING_ENABLED says) and OTEL_TRACES_EXPORTER (`otlp`, `console`,
 * both, or `none`); the counts of exported and dropped spans (metrics) and the reports of failed
 * exports (logs). Spans go to a real OTLP/HTTP receiver in this process, or to collectors here
 * that refuse or hold them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTracing } from '../../src/telemetry/index.ts';
import { createOtelTracing, ExportThread, type OtelTracingOptions } from '../../src/telemetry/otel.ts';
import type { SpanBatch } from '../../src/telemetry/otlp-export.ts';
import { noopTracing, type Tracing } from '../../src/telemetry/tracing.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { eventually, startServer } from '../helpers/server.ts';

const SETTINGS = { tracingEnabled: true, traceSampleRatio: 1, traceSampleRules: '' };
const SERVICE = { name: 'exporters', version: 'test' };

/** A collector that answers each export with `answer` (which may hold it); its /v1/traces URL and a closer. */
async function collector(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface ConsoleLine {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string }[] }[] }[];
  }[];
}

describe('OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER', () => {
  let receiver: OtlpReceiver;
  const opened: Tracing[] = [];
  const tracer = (env: Record<string, string>, more: Partial<OtelTracingOptions> = {}) => {
    const t = createOtelTracing({ serviceName: SERVICE.name, serviceVersion: SERVICE.version, defaultRatio: 1, rules: [], exporterUrl: receiver.url, env, ...more });
    opened.push(t);
    return t;
  };
  /** Spans exported to the receiver so far, by name; a marker exported after `flushed` proves they have all arrived. */
  const exportedAfter = async (flushed: Tracing, marker: string) => {
    await flushed.flush();
    const witness = tracer({});
    witness.start(marker, { parent: 'root' }).end();
    await witness.flush();
    assert.ok(receiver.spans.some((s) => s.name === marker), 'the marker is exported');
    return receiver.spans.map((s) => s.name);
  };

  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(async () => {
    await Promise.all(opened.map((t) => t.shutdown()));
    await receiver.close();
    assert.deepEqual(receiver.rejected, []);
  });

  it('OTEL_SDK_DISABLED=true turns tracing off whatever TRACING_ENABLED says; any other value leaves it on', async () => {
    for (const value of ['true', 'TRUE', ' True ']) {
      assert.equal(await startTracing(SETTINGS, { ...SERVICE, exporterUrl: receiver.url }, { OTEL_SDK_DISABLED: value }), noopTracing, JSON.stringify(value));
    }
    for (const value of ['false', '', 'yes', '1']) {
      const t = await startTracing(SETTINGS, { ...SERVICE, exporterUrl: receiver.url }, { OTEL_SDK_DISABLED: value });
      opened.push(t);
      assert.equal(t.enabled, true, JSON.stringify(value));
    }
  });

  it('a server started with TRACING_ENABLED=true and OTEL_SDK_DISABLED=true in its environment traces nothing', async () => {
    const before = process.env.OTEL_SDK_DISABLED;
    process.env.OTEL_SDK_DISABLED = 'true';
    try {
      const server = await startServer({ TRACING_ENABLED: 'true', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url });
      try {
        assert.equal(server.tracing.enabled, false);
        const res = await fetch(`${server.url}/healthz`);
        assert.equal(res.status, 200);
      } finally {
        await server.close();
      }
    } finally {
      if (before === undefined) delete process.env.OTEL_SDK_DISABLED;
      else process.env.OTEL_SDK_DISABLED = before;
    }
  });

  it('none: spans are made (ids for logs, context for other processes) and none is exported', async () => {
    const t = tracer({ OTEL_TRACES_EXPORTER: 'none' });
    const span = t.start('not exported', { parent: 'root' });
    assert.equal(span.recording, true);
    const ids = span.ids();
    assert.match(ids?.trace_id ?? '', /^[0-9a-f]{32}$/);
    assert.equal(t.inject(span.context), `00-${ids!.trace_id}-${ids!.span_id}-01`, 'the sampled context still goes to other processes');
    span.end();
    const names = await exportedAfter(t, 'after none');
    assert.ok(!names.includes('not exported'), `exported: ${names.join(', ')}`);
  });

  it('console: each span as it ends, one line of OTLP JSON; with otlp,console also to the collector', async () => {
    const lines: string[] = [];
    const t = tracer({ OTEL_TRACES_EXPORTER: 'otlp, console' }, { console: (line) => lines.push(line) });
    const root = t.start('console root', { parent: 'root', attributes: { 'tremolo.video.id': 'v1' } });
    const child = t.start('console child', { parent: root.context });
    child.end();
    assert.equal(lines.length, 1, 'written when it ends, not batched');
    root.end();
    assert.equal(lines.length, 2);
    const [childLine, rootLine] = lines.map((line) => {
      assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line each');
      return JSON.parse(line) as ConsoleLine;
    });
    const spanOf = (l: ConsoleLine) => l.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    const service = rootLine!.resourceSpans[0]!.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
    assert.equal(service, SERVICE.name);
    assert.equal(spanOf(rootLine!).name, 'console root');
    assert.equal(spanOf(rootLine!).traceId, root.ids()!.trace_id);
    assert.deepEqual(spanOf(rootLine!).attributes?.map((a) => a.key), ['tremolo.video.id']);
    assert.equal(spanOf(childLine!).name, 'console child');
    assert.equal(spanOf(childLine!).parentSpanId, root.ids()!.span_id);
    const names = await exportedAfter(t, 'after console');
    assert.ok(names.includes('console root') && names.includes('console child'), 'otlp exports them too');
  });

  it('counts the spans exported, and those lost with a failed export, which it reports', async () => {
    const refusing = await collector((_req, res) => res.writeHead(400).end());
    const failures: Error[] = [];
    const ok = tracer({});
    const failing = tracer({}, { exporterUrl: refusing.url, report: { exportFailed: (err) => failures.push(err), dropped: () => {} } });
    try {
      for (const t of [ok, failing]) for (let i = 0; i < 3; i++) t.start('counted', { parent: 'root' }).end();
      await ok.flush();
      await failing.flush();
      assert.deepEqual(ok.exportCounts(), { exported: 3, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 });
      assert.deepEqual(failing.exportCounts(), { exported: 0, droppedQueueFull: 0, droppedExportFailed: 3, failedExports: 1 });
      assert.equal(failures.length, 1, 'the failed export is reported');
      assert.deepEqual({ name: failures[0]!.name, code: (failures[0] as Error & { code?: number }).code }, { name: 'OTLPExporterError', code: 400 }, 'with the collector\'s status, as the SDK reports it');
      assert.deepEqual(noopTracing.exportCounts(), { exported: 0, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 });
    } finally {
      await refusing.close();
    }
  });

  it('drops what comes past OTEL_BSP_MAX_QUEUE_SIZE while an export is held, counts it, and reports it once spans are taken again', async () => {
    const held: ServerResponse[] = [];
    const slow = await collector((_req, res) => held.push(res));
    const dropped: number[] = [];
    const t = tracer({}, { exporterUrl: slow.url, report: { exportFailed: () => {}, dropped: (count) => dropped.push(count) } });
    try {
      // the SDK's defaults: batches of 512, at most 2048 waiting; the first batch goes at once and is held
      for (let i = 0; i < 512; i++) t.start('queued', { parent: 'root' }).end();
      await eventually(() => held.length === 1, 'the first export reaches the collector');
      for (let i = 0; i < 2048 + 7; i++) t.start('queued', { parent: 'root' }).end();
      assert.equal(t.exportCounts().droppedQueueFull, 7);
      assert.deepEqual(dropped, [], 'told once the queue takes spans again');
      held.shift()!.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      const flushed = t.flush();
      await eventually(() => {
        while (held.length) held.shift()!.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        return t.exportCounts().exported === 512 + 2048;
      }, 'every queued batch exported');
      await flushed;
      t.start('after', { parent: 'root' }).end();
      assert.deepEqual(dropped, [7]);
    } finally {
      await t.shutdown().catch(() => {});
      await slow.close();
    }
  });

  it('a traced server exposes the counts as Prometheus counters', async () => {
    const t = tracer({});
    const server = await startServer({}, { tracing: t });
    try {
      const sampled = clientTraceparent(true);
      assert.equal((await fetch(`${server.url}/healthz`, { headers: { traceparent: sampled.traceparent } })).status, 200);
      await t.flush();
      const text = await (await fetch(server.metricsUrl!)).text();
      const exported = Number(/^tremolo_trace_spans_exported_total (\d+)$/m.exec(text)?.[1]);
      assert.ok(exported >= 1, text);
      assert.equal(exported, t.exportCounts().exported);
      assert.match(text, /^tremolo_trace_spans_dropped_total\{reason="queue_full"\} 0$/m);
      assert.match(text, /^tremolo_trace_spans_dropped_total\{reason="export_failed"\} 0$/m);
      assert.match(text, /^tremolo_trace_exports_failed_total 0$/m);
    } finally {
      await server.close();
    }
  });

  it('refuses an exporter it does not have, and none among others, at start-up', () => {
    assert.throws(() => tracer({ OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER "zipkin" is not supported: set otlp \(the default\), console, otlp,console, or none on its own/);
    assert.throws(() => tracer({ OTEL_TRACES_EXPORTER: 'none,otlp' }), /OTEL_TRACES_EXPORTER "none,otlp" is not supported/);
  });
});

describe('the export thread', () => {
  it("sends with the SDK's exporter: OTEL_EXPORTER_OTLP_TRACES_HEADERS as set when the tracer was made, the same bytes again after a 503", async () => {
    const seen: { tenant: string | undefined; bytes: Buffer }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ tenant: req.headers['x-tenant'] as string | undefined, bytes: Buffer.concat(chunks) });
        if (seen.length === 1) res.writeHead(503, { 'retry-after': '0' }).end();
        else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.env.OTEL_EXPORTER_OTLP_TRACES_HEADERS = 'x-tenant=blue';
    const t = createOtelTracing({ serviceName: 'thread', serviceVersion: 'test', defaultRatio: 1, rules: [], exporterUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, env: {} });
    delete process.env.OTEL_EXPORTER_OTLP_TRACES_HEADERS;
    try {
      t.start('retried', { parent: 'root' }).end();
      await t.flush();
      assert.deepEqual(t.exportCounts(), { exported: 1, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 });
      assert.equal(seen.length, 2, 'refused once, then taken');
      assert.deepEqual(seen.map((s) => s.tenant), ['blue', 'blue']);
      assert.ok(seen[0]!.bytes.length > 0 && seen[0]!.bytes.equals(seen[1]!.bytes), 'the retry sends the same request');
    } finally {
      await t.shutdown();
      server.close();
    }
  });

  it('a thread that crashes fails the exports in flight with its error, and the next export starts another', async () => {
    const thread = new ExportThread({ url: undefined, protocol: 'http/protobuf', contentType: 'application/x-protobuf' }, '../../test/helpers/dying-export-thread');
    const request = { body: () => Buffer.from([1, 2, 3]), count: 1 } as unknown as SpanBatch;
    const exported = () => new Promise<{ code: number; error?: Error }>((resolve) => thread.export(request, resolve));
    try {
      for (const attempt of [1, 2]) {
        const result = await exported();
        assert.equal(result.code, 1, `attempt ${attempt} fails`);
        assert.match(result.error!.message, /the span export thread exited \(code 1, a crash in the export thread\) before the export was sent/);
      }
    } finally {
      await thread.shutdown();
    }
  });

  it('refuses an endpoint that is not a URL when the tracer is made, not at its first export', () => {
    assert.throws(() => createOtelTracing({ serviceName: 'x', serviceVersion: 'test', defaultRatio: 1, rules: [], exporterUrl: '127.0.0.1:4318', env: {} }), /Could not parse user-provided export URL: '127.0.0.1:4318'/);
  });

  it('an export thread with nothing in flight keeps no process alive', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', new URL('../helpers/traced-exit.ts', import.meta.url).pathname], {
        env: { ...process.env, OTLP_URL: receiver.url },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exitCode = await new Promise<number | null>((resolve, reject) => {
        const bound = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`the process did not end by itself within 30 s (printed ${JSON.stringify(out)})`));
        }, 30_000);
        child.once('exit', (code) => {
          clearTimeout(bound);
          resolve(code);
        });
      });
      assert.equal(exitCode, 0);
      assert.deepEqual(JSON.parse(out), { exported: 1, droppedQueueFull: 0, droppedExportFailed: 0, failedExports: 0 });
      assert.deepEqual(receiver.spans.map((s) => s.name), ['before exit']);
    } finally {
      await receiver.close();
    }
  });
});
