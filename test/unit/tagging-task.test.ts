import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, test, mock } from 'node:test';
import { colourModel, MediaScratch, requireFont } from '../helpers/media-fixtures.ts';
import { MediaPool } from '../../src/workers/pool.ts';
import { tag } from '../../src/workers/tasks/tag.ts';
import { SessionCache } from '../../src/workers/tasks/tag/sessions.ts';
import { defaultVadModelFile } from '../../src/workers/tasks/tag/speech.ts';
import type { TagInput, TagResult } from '../../src/workers/tasks/tag/types.ts';

let scratch: MediaScratch;
let input: TagInput;

before(async () => {
  scratch = await MediaScratch.create();
  const cjk = requireFont('cjk');
  const keyframes = [
    await scratch.textFrame({ lines: ['#Dance 抖音 直播', 'HELLO 2026'], font: cjk }),
    await scratch.textFrame({ lines: ['#Dance 抖音 直播', 'HELLO 2026'], font: cjk }), // same caption again
    await scratch.textFrame({ lines: ['关注 点赞'], font: cjk }),
  ];
  const videoPath = await scratch.videoWithAudio(await scratch.speechWav('Welcome back to my channel, today we dance together.'));
  input = { keyframes, videoPath, options: { device: 'cpu', threads: 1 } };
});

after(async () => {
  await scratch.cleanup();
});

function assertTagged(result: TagResult): void {
  assert.equal(result.device, 'cpu');
  assert.deepEqual(
    result.ocr.map((l) => l.text.replace(/\s+/g, '')),
    ['#Dance抖音直播', 'HELLO2026', '关注点赞'],
    'lines de-duplicated across frames',
  );
  assert.ok(result.tags.includes('dance'), 'a hashtag is a tag without its #');
  assert.ok(result.tags.every((t) => !t.startsWith('#')));
  assert.ok(result.tags.includes('hello'));
  for (const word of ['抖音', '直播', '关注', '点赞']) assert.ok(result.tags.includes(word), `Chinese segmented: ${word} in ${result.tags.join(' ')}`);
  assert.deepEqual(result.frame, { width: 640, height: 360 }, 'the size the OCR boxes refer to');
  assert.ok(result.tags.includes('speech'));
  assert.ok(result.speech.ratio > 0.5 && result.speech.segments.length > 0);
  assert.equal(result.classifier, undefined);
}

test('tag() turns keyframes and the audio track into tags', async () => {
  assertTagged(await tag(input));
});

test('runs as the pool task `tag` on a worker thread, reporting progress', async () => {
  const pool = new MediaPool({ threads: 1, maxQueue: 1 });
  const seen: number[] = [];
  try {
    assertTagged(await pool.run('tag', input, { onProgress: (p) => seen.push(p.percent) }));
    assert.ok(seen.length > 0 && seen.every((p, i) => i === 0 || p >= seen[i - 1]!), 'progress reported and never decreasing');
  } finally {
    await pool.close();
  }
});

test('a cancelled tag task rejects with E_JOB_CANCELLED', async () => {
  const pool = new MediaPool({ threads: 1, maxQueue: 1 });
  try {
    const ctl = new AbortController();
    ctl.abort();
    await assert.rejects(pool.run('tag', input, { signal: ctl.signal }), { code: 'E_JOB_CANCELLED' });
    const stop = new AbortController();
    stop.abort('cancelled');
    await assert.rejects(tag(input, { signal: stop.signal }), { code: 'E_JOB_CANCELLED' });
  } finally {
    await pool.close();
  }
});

test('a video without audio is tagged no-audio', async () => {
  const result = await tag({ ...input, keyframes: [], videoPath: await scratch.silentVideo(1) });
  assert.deepEqual(result.tags, ['no-audio']);
  assert.deepEqual(result.speech, { ratio: 0, segments: [] });
});

test('classifier labels become tags when a classifier is configured', async () => {
  const labelsPath = scratch.path('txt');
  await writeFile(labelsPath, 'Red Colour\ngreen\nblue\n');
  const modelPath = scratch.path('onnx');
  await writeFile(modelPath, colourModel(16, true));
  const classifier = { modelPath, labelsPath, size: 16, mean: [0, 0, 0], std: [1, 1, 1], topK: 2, threshold: 0.5 } as const;
  const result = await tag({
    keyframes: [await scratch.solidFrame('red', 320, 180)],
    videoPath: await scratch.silentVideo(1),
    options: { device: 'cpu', threads: 1, classifier },
  });
  assert.deepEqual(result.classifier?.map((l) => l.label), ['Red Colour']);
  assert.deepEqual(result.tags, ['no-audio', 'red-colour']);
});

test('a classifier model that cannot be loaded is E_TAGGING_FAILED', async () => {
  const labelsPath = scratch.path('txt');
  await writeFile(labelsPath, 'not a model');
  await assert.rejects(
    tag({ ...input, options: { ...input.options, classifier: { modelPath: labelsPath, labelsPath, size: 8, mean: [0, 0, 0], std: [1, 1, 1], topK: 1, threshold: 0.5 } } }),
    { code: 'E_TAGGING_FAILED' },
  );
});

test('malformed input is E_VALIDATION; a missing keyframe is E_MEDIA_INVALID', async () => {
  await assert.rejects(tag({ ...input, options: { device: 'gpu' as 'cpu', threads: 1 } }), { code: 'E_VALIDATION' });
  await assert.rejects(tag({ ...input, keyframes: ['/nonexistent.png'] }), { code: 'E_MEDIA_INVALID' });
});

test('sessions are created once per model, device and thread count', async () => {
  const cache = new SessionCache();
  const model = defaultVadModelFile();
  const [a, b] = await Promise.all([cache.get(model, { device: 'cpu', threads: 1 }), cache.get(model, { device: 'cpu', threads: 1 })]);
  assert.equal(a.session, b.session);
  const c = await cache.get(model, { device: 'cpu', threads: 2 });
  assert.notEqual(c.session, a.session);
  await assert.rejects(cache.get(model, { device: 'cpu', threads: 0 }), RangeError);
  await cache.close();
});

test('cuda falls back to cpu with one warning when the CUDA provider is missing', async (t) => {
  const cache = new SessionCache();
  const warn = mock.method(console, 'warn', () => undefined);
  try {
    const a = await cache.get(defaultVadModelFile(), { device: 'cuda', threads: 1 });
    const b = await cache.get(defaultVadModelFile(), { device: 'cuda', threads: 2 });
    // On a machine with the CUDA build of onnxruntime-node this test sees cuda and no warning.
    if (a.device === 'cuda') {
      t.diagnostic('CUDA provider present');
      assert.equal(warn.mock.callCount(), 0);
    } else {
      assert.equal(a.device, 'cpu');
      assert.equal(b.device, 'cpu');
      assert.equal(warn.mock.callCount(), 1);
      assert.match(String(warn.mock.calls[0]?.arguments[0]), /CUDA/);
    }
    const out = await a.session.run({}).catch((e: unknown) => e);
    assert.ok(out instanceof Error, 'the session is a real one (it rejects missing inputs)');
  } finally {
    warn.mock.restore();
    await cache.close();
  }
});
