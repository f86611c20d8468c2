/**
 * A media job as one trace (issue 16), exported over OTLP/HTTP to a real receiver in this
 * process, with real ffmpeg and the real tagger: the upload request that finished the upload ->
 * `media.job.create` (whose traceparent is stored in the job record) -> the attempt's `media.job`
 * -> probe, transcode (with the spans its worker thread timed: the ffmpeg pass, each rendition,
 * packaging), tag (model loading, OCR, speech) and publish. Then a job whose process froze
 * mid-job is taken over by a second process on Redis once its lease lapses: both processes'
 * spans are in the trace stored with the job.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import type { Tremolo } from '../../src/main.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import { parseSampleRules } from '../../src/telemetry/sampling.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { makeClip, processesMentioning, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { ffmpegPath } from '../helpers/media-fixtures.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

const run = promisify(execFile);
/** The documented default rules: every upload request and every job root is kept, nothing else. */
const RULES = '/v1/uploads*=1,media.job*=1';

let clips: string;
/** 2 s 720p with a tone: two renditions (720p, 480p), speech detection has audio to read. */
let shortClip: string;
/** 10 s, 640x360: still transcoding when the takeover test freezes its first process, cheap for the second. */
let longClip: string;

before(async () => {
  clips = await tempDir('tremolo-trace-media-');
  shortClip = await makeClip(clips, { seconds: 2, width: 1280, height: 720, fps: 15 });
  longClip = join(clips, 'long.mp4');
  const small = await makeClip(clips, { seconds: 2, width: 640, height: 360, fps: 15 });
  await run(ffmpegPath, ['-hide_banner', '-loglevel', 'error', '-y', '-stream_loop', '4', '-i', small, '-c', 'copy', longClip]);
});
after(async () => {
  await rm(clips, { recursive: true, force: true });
});

/** A tus upload in one PATCH; resolves to the upload id and the job the final PATCH started. */
async function upload(url: string, token: string, file: Buffer, headers: Record<string, string> = {}): Promise<{ uploadId: string; jobId: string }> {
  const created = await fetch(`${url}/v1/uploads`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'tus-resumable': '1.0.0',
      'upload-length': String(file.length),
      'upload-metadata': `title ${Buffer.from('traced').toString('base64')}`,
    },
  });
  assert.equal(created.status, 201);
  const location = created.headers.get('location')!;
  const patched = await fetch(location, {
    method: 'PATCH',
    headers: {
      authorization: `Bearer ${token}`,
      'tus-resumable': '1.0.0',
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
      ...headers,
    },
    body: new Uint8Array(file),
  });
  assert.equal(patched.status, 204);
  const jobId = patched.headers.get('tremolo-job-id');
  assert.ok(jobId, 'the final PATCH started a job');
  return { uploadId: location.slice(location.lastIndexOf('/') + 1), jobId };
}

async function jobStage(url: string, token: string, jobId: string): Promise<{ stage: string; attempts: number; error?: unknown }> {
  const res = await fetch(`${url}/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { stage: string; attempts: number };
}

/** The trace and parent span of a W3C traceparent. */
function parse(traceparent: string | undefined): { traceId: string; spanId: string } {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(traceparent ?? '');
  assert.ok(m, `a W3C traceparent, got ${traceparent}`);
  return { traceId: m[1]!, spanId: m[2]! };
}

const names = (spans: ReceivedSpan[]) => spans.map((s) => `${s.service}/${s.name}`).join(', ');

function one(spans: ReceivedSpan[], pred: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(pred);
  assert.equal(found.length, 1, `one ${what}, got ${found.length}: ${names(spans)}`);
  return found[0]!;
}

describe('a media job is one trace', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let server: Tremolo;
  let dataDir: string;

  before(async () => {
    receiver = await startOtlpReceiver();
    dataDir = await tempDir('tremolo-trace-media-data-');
    tracing = createOtelTracing({ serviceName: 'media', serviceVersion: 'test', defaultRatio: 0, rules: parseSampleRules(RULES), exporterUrl: receiver.url, env: {} });
    server = await startServer({ DATA_DIR: dataDir, STORAGE: 'memory' }, { tracing });
  });
  after(async () => {
    await server.close();
    await tracing.shutdown();
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('from the request that finished the upload through every stage, worker threads included, to publish', async () => {
    const user = await newUser(server, 'traced');
    const client = clientTraceparent();
    const { jobId } = await upload(server.url, user.token, await readFile(shortClip), { traceparent: client.traceparent });
    await eventually(async () => ['ready', 'failed'].includes((await jobStage(server.url, user.token, jobId)).stage), 'the job ends', 120_000);
    const done = await jobStage(server.url, user.token, jobId);
    assert.equal(done.stage, 'ready', JSON.stringify(done.error));

    await tracing.flush();
    const inTrace = () => receiver.spans.filter((s) => s.traceId === client.traceId);
    await eventually(() => inTrace().some((s) => s.name === 'media.job'), 'the job span is exported');
    const spans = inTrace();

    // the stored context is the creation span, a child of the request that finished the upload
    const stored = parse((await server.store.jobs.get(jobId))?.traceparent);
    assert.equal(stored.traceId, client.traceId, 'the job record carries the trace of the upload');
    const request = one(spans, (s) => s.parentSpanId === client.spanId, 'request span');
    assert.match(request.name, /^PATCH \/v1\/uploads/);
    const create = one(spans, (s) => s.name === 'media.job.create', 'creation span');
    assert.equal(create.spanId, stored.spanId, 'the stored traceparent names the creation span');
    assert.equal(create.parentSpanId, request.spanId);
    assert.equal(create.kind, 4, 'producer');
    assert.equal(create.attributes['tremolo.job.id'], jobId);

    const job = one(spans, (s) => s.name === 'media.job', 'attempt span');
    assert.equal(job.parentSpanId, create.spanId, 'the attempt continues the creation context');
    assert.ok(job.links.some((l) => l.spanId === create.spanId), 'and links to it, as a consumer of a message does');
    assert.equal(job.kind, 5, 'consumer');
    assert.equal(job.attributes['tremolo.job.attempt'], 1);
    assert.equal(job.attributes['tremolo.job.outcome'], 'ready');

    const stage = (name: string) => one(spans, (s) => s.name === name, name);
    const probe = stage('media.probe');
    const transcode = stage('media.transcode');
    const tag = stage('media.tag');
    const publish = stage('media.publish');
    for (const s of [probe, transcode, tag, publish]) assert.equal(s.parentSpanId, job.spanId, `${s.name} is a stage of the attempt`);
    assert.equal(probe.attributes['tremolo.media.width'], 1280);
    assert.equal(transcode.attributes['tremolo.media.renditions'], 2);

    // timed in the worker threads, exported as children of the stage that ran them
    const encode = stage('media.transcode.encode');
    assert.equal(encode.parentSpanId, transcode.spanId);
    const renditions = spans.filter((s) => s.name === 'media.transcode.rendition');
    assert.deepEqual(renditions.map((r) => r.attributes['tremolo.media.rendition']).sort(), ['480p', '720p']);
    for (const r of renditions) {
      assert.equal(r.parentSpanId, transcode.spanId);
      assert.ok(Number(r.attributes['tremolo.media.bandwidth']) > 0);
    }
    assert.equal(stage('media.transcode.package').parentSpanId, transcode.spanId);
    for (const name of ['media.tag.load', 'media.tag.ocr', 'media.tag.speech']) assert.equal(stage(name).parentSpanId, tag.spanId, `${name} under media.tag`);
    assert.ok(Number(stage('media.tag.ocr').attributes['tremolo.tag.frames']) >= 1);

    // publishing writes through storage: its store calls hang under it
    assert.ok(
      spans.some((s) => s.parentSpanId === publish.spanId && s.name === 'jobs.update' && s.attributes['db.system.name'] === 'memory'),
      `a store call under media.publish: ${names(spans)}`,
    );
    assert.deepEqual(receiver.rejected, []);
  });
});

describe('a job taken over by another process continues its trace', () => {
  const prefix = randomPrefix('trace-media');
  let receiver: OtlpReceiver;
  let admin: Redis;
  let dataDir: string;
  const processes: ServerProcess[] = [];
  const frozen: number[] = [];

  before(async () => {
    admin = await connectRedis();
    receiver = await startOtlpReceiver();
    dataDir = await tempDir('tremolo-trace-takeover-');
  });
  after(async () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGKILL'); // a stopped process dies of SIGKILL too
      } catch {
        // gone already
      }
    }
    await Promise.all(processes.map((p) => p.stop()));
    await receiver.close();
    await dropPrefix(admin, prefix);
    admin.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  });

  // A's lease is short so that it lapses soon; B's is long, so a stalled heartbeat on a loaded
  // machine cannot make B claim its own job again (an attempt more)
  const env = (service: string, nodeId: string, lease: string) => ({
    STORAGE: 'redis',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATA_DIR: dataDir,
    NODE_ID: nodeId,
    JOB_LEASE: lease,
    WORKER_THREADS: '1',
    TRACING_ENABLED: 'true',
    TRACE_SAMPLE_RATIO: '0',
    TRACE_SAMPLE_RULES: RULES,
    OTEL_SERVICE_NAME: service,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });

  it('the attempt in the second process is a new media.job span in the trace stored with the job', async () => {
    const a = await spawnServer(env('tremolo-a', '1', '2s'));
    processes.push(a);
    const user = await newUser(a, 'takeover');
    const { uploadId, jobId } = await upload(a.url, user.token, await readFile(longClip));
    const stored = parse((await admin.hget(`${prefix}{jobs}:job:${jobId}`, 'traceparent')) ?? undefined);
    const inTrace = () => receiver.spans.filter((s) => s.traceId === stored.traceId);

    // A probed (and exported that span) and is transcoding: freeze it and its ffmpeg, as a hung
    // machine would; its lease lapses without a word.
    let encoders: number[] = [];
    await eventually(
      async () => inTrace().some((s) => s.service === 'tremolo-a' && s.name === 'media.probe') && (encoders = await processesMentioning(uploadId)).length > 0,
      'A probed and is transcoding',
      60_000,
    );
    for (const pid of [a.child.pid!, ...encoders]) {
      process.kill(pid, 'SIGSTOP');
      frozen.push(pid);
    }

    const b = await spawnServer(env('tremolo-b', '2', '60s'));
    processes.push(b);
    let last = { stage: '', attempts: 0 } as Awaited<ReturnType<typeof jobStage>>;
    await eventually(async () => ['ready', 'failed'].includes((last = await jobStage(b.url, user.token, jobId)).stage), 'B finishes the job', 120_000).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}; the job: ${JSON.stringify(last)}; B wrote: ${b.output().slice(-2000)}`);
      },
    );
    assert.equal(last.stage, 'ready', JSON.stringify(last.error));
    assert.equal(last.attempts, 2, 'claimed by A, then by B once A lease lapsed');

    await eventually(() => inTrace().some((s) => s.service === 'tremolo-b' && s.name === 'media.job'), "B's attempt span is exported", 30_000);
    const spans = inTrace();
    const create = one(spans, (s) => s.name === 'media.job.create', 'creation span');
    assert.equal(create.service, 'tremolo-a');
    assert.equal(create.spanId, stored.spanId, 'the job record names the creation span');
    const probeA = one(spans, (s) => s.service === 'tremolo-a' && s.name === 'media.probe', "A's probe");
    const jobB = one(spans, (s) => s.service === 'tremolo-b' && s.name === 'media.job', "B's attempt");
    assert.equal(jobB.parentSpanId, create.spanId, "B's attempt continues the stored context");
    assert.ok(jobB.links.some((l) => l.spanId === create.spanId && l.traceId === stored.traceId));
    assert.equal(jobB.attributes['tremolo.job.attempt'], 2);
    assert.equal(jobB.attributes['tremolo.job.outcome'], 'ready');
    // A's attempt span never ended (the process froze), but the stage it finished points at it
    assert.ok(probeA.parentSpanId && probeA.parentSpanId !== jobB.spanId);
    for (const name of ['media.probe', 'media.transcode', 'media.tag', 'media.publish']) {
      one(spans, (s) => s.service === 'tremolo-b' && s.name === name && s.parentSpanId === jobB.spanId, `B's ${name}`);
    }
    assert.ok(
      spans.some((s) => s.service === 'tremolo-b' && s.name === 'media.transcode.encode'),
      "B's worker thread timed its ffmpeg pass",
    );
    // every span about this job, in either process, is in that one trace
    const aboutJob = receiver.spans.filter((s) => s.attributes['tremolo.job.id'] === jobId);
    assert.ok(aboutJob.length >= 2);
    assert.deepEqual([...new Set(aboutJob.map((s) => s.traceId))], [stored.traceId]);
    assert.deepEqual(receiver.rejected, []);
  });
});
