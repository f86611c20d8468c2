/**
 * The standard switches of where spans go: OTEL_SDK_DISABLED (tracing off whatever
 * TRACING_ENABLED says) and OTEL_TRACES_EXPORTER (`otlp`, `console`, both, or `none`), with
 * spans sent to a real OTLP/HTTP receiver in this process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTracing } from '../../src/telemetry/index.ts';
import { createOtelTracing, type OtelTracingOptions } from '../../src/telemetry/otel.ts';
import { noopTracing, type Tracing } from '../../src/telemetry/tracing.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { startServer } from '../helpers/server.ts';

const SETTINGS = { tracingEnabled: true, traceSampleRatio: 1, traceSampleRules: '' };
const SERVICE = { name: 'exporters', version: 'test' };

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

  it('refuses an exporter it does not have, and none among others, at start-up', () => {
    assert.throws(() => tracer({ OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER "zipkin" is not supported: set otlp \(the default\), console, otlp,console, or none on its own/);
    assert.throws(() => tracer({ OTEL_TRACES_EXPORTER: 'none,otlp' }), /OTEL_TRACES_EXPORTER "none,otlp" is not supported/);
  });
});
