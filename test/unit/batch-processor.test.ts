import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import { EncodingBatchProcessor, type BatchExporter, type BatchOptions } from '../../src/telemetry/batch-processor.ts';
import type { SpanBatch, SpanRecord } from '../../src/telemetry/otlp-export.ts';
import { OtlpJsonEncoder } from '../../src/telemetry/otlp-json.ts';
import { ctx, spanRecord } from '../helpers/span-records.ts';

/** Span `n`: its name and span id say which it is. */
function span(n: number, over: Partial<SpanRecord> & { sampled?: boolean } = {}): SpanRecord {
  const { sampled, ...rest } = over;
  const spanId = n.toString(16).padStart(16, '0');
  return spanRecord({ name: `span ${n}`, spanContext: () => ctx('0af7651916cd43dd8448eb211c80319c', spanId, sampled === false ? 0 : 1), ...rest });
}

interface Sent {
  names: string[];
  resource: string;
  done: (result: { code: number; error?: Error }) => void;
}

/** An exporter that keeps each request (decoded) and answers only when the test says. */
function holdingExporter() {
  const sent: Sent[] = [];
  let shutDown = false;
  const exporter: BatchExporter = {
    export(batch: SpanBatch, done) {
      const body = JSON.parse(batch.body().toString()) as {
        resourceSpans: { resource: { attributes: { value: { stringValue: string } }[] }; scopeSpans: { spans: { name: string }[] }[] }[];
      };
      const [rs] = body.resourceSpans;
      sent.push({ names: rs!.scopeSpans[0]!.spans.map((s) => s.name), resource: rs!.resource.attributes[0]!.value.stringValue, done });
    },
    shutdown: async () => {
      shutDown = true;
    },
  };
  return { exporter, sent, shutDown: () => shutDown };
}

function setup(options: Partial<BatchOptions> = {}) {
  const clock = new ManualClock();
  const { exporter, sent, shutDown } = holdingExporter();
  const failures: Error[] = [];
  const drops: number[] = [];
  const processor = new EncodingBatchProcessor(
    new OtlpJsonEncoder(),
    exporter,
    { exportFailed: (err) => failures.push(err), dropped: (n) => drops.push(n) },
    clock,
    { maxExportBatchSize: 3, maxQueueSize: 6, scheduledDelayMillis: 1000, exportTimeoutMillis: 5000, ...options },
  );
  return { clock, processor, sent, failures, drops, shutDown };
}

const OK = { code: 0 };

describe('EncodingBatchProcessor', () => {
  it('sends a request as soon as it holds maxExportBatchSize spans, the rest after scheduledDelayMillis', () => {
    const { clock, processor, sent } = setup();
    for (let i = 1; i <= 4; i++) processor.onEnd(span(i));
    assert.deepEqual(
      sent.map((s) => s.names),
      [['span 1', 'span 2', 'span 3']],
    );
    sent[0]!.done(OK);
    clock.advance(999);
    assert.equal(sent.length, 1, 'the fourth span waits for its batch to fill or its delay to pass');
    clock.advance(1);
    assert.deepEqual(sent[1]!.names, ['span 4']);
  });

  it('takes sampled spans only', () => {
    const { processor, sent } = setup();
    processor.onEnd(span(1, { sampled: false }));
    processor.onEnd(span(2));
    processor.onEnd(span(3, { sampled: false }));
    void processor.forceFlush();
    assert.deepEqual(sent[0]!.names, ['span 2']);
  });

  it('sends one request at a time; the next goes when the last is answered', () => {
    const { processor, sent } = setup();
    for (let i = 1; i <= 6; i++) processor.onEnd(span(i));
    assert.equal(sent.length, 1);
    sent[0]!.done({ code: 1, error: new Error('refused') });
    assert.deepEqual(sent[1]!.names, ['span 4', 'span 5', 'span 6'], 'a failed export does not stop the next');
  });

  it('drops spans past maxQueueSize, counts them and says how many once it takes spans again', () => {
    const { processor, sent, drops } = setup();
    for (let i = 1; i <= 3; i++) processor.onEnd(span(i)); // sent, unanswered
    for (let i = 4; i <= 12; i++) processor.onEnd(span(i)); // 6 wait, 3 dropped
    assert.equal(sent.length, 1);
    assert.deepEqual(drops, [], 'told once, when the queue takes spans again');
    sent[0]!.done(OK);
    processor.onEnd(span(13));
    assert.deepEqual(drops, [3]);
    sent[1]!.done(OK);
    sent[2]!.done(OK);
    void processor.forceFlush();
    assert.deepEqual(
      sent.flatMap((s) => s.names).map((n) => Number(n.split(' ')[1])),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 13],
    );
  });

  it('starts a new request for a span of another resource or scope', () => {
    const { processor, sent } = setup({ maxExportBatchSize: 10 });
    processor.onEnd(span(1));
    processor.onEnd(span(2, { resource: { attributes: { 'service.name': 'other' } } }));
    processor.onEnd(span(3, { resource: { attributes: { 'service.name': 'other' } } }));
    void processor.forceFlush();
    sent[0]!.done(OK);
    assert.deepEqual(
      sent.map((s) => `${s.resource}: ${s.names.join(', ')}`),
      ['svc: span 1', 'other: span 2'],
      'spans of one resource object share a request; a span of another makes a new one',
    );
  });

  it('gives up on an export not answered in exportTimeoutMillis, reports it, and sends the next', () => {
    const { clock, processor, sent, failures } = setup();
    for (let i = 1; i <= 6; i++) processor.onEnd(span(i));
    clock.advance(5000);
    assert.match(failures[0]?.message ?? '', /took over 5000 ms/);
    assert.equal(sent.length, 2);
    sent[0]!.done(OK); // a late answer changes nothing
    assert.equal(sent.length, 2);
    assert.equal(failures.length, 1);
  });

  it('forceFlush resolves once every ended span is sent; shutdown flushes, shuts the exporter and takes no more', async () => {
    const { processor, sent, shutDown } = setup();
    processor.onEnd(span(1));
    processor.onEnd(span(2));
    let flushed = false;
    const flush = processor.forceFlush().then(() => (flushed = true));
    assert.deepEqual(sent[0]!.names, ['span 1', 'span 2']);
    await Promise.resolve();
    assert.equal(flushed, false, 'not before the export is answered');
    sent[0]!.done(OK);
    await flush;
    const closed = processor.shutdown();
    assert.equal(processor.shutdown(), closed, 'once');
    await closed;
    assert.equal(shutDown(), true);
    processor.onEnd(span(3));
    await processor.forceFlush();
    assert.equal(sent.length, 1, 'a span ended after shutdown is not sent');
  });
});
