import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { colourModel, MediaScratch } from '../helpers/media-fixtures.ts';
import { ImageClassifier, toProbabilities, topLabels } from '../../src/workers/tasks/tag/classifier.ts';
import { decodeImage } from '../../src/workers/tasks/tag/media.ts';
import { SessionCache } from '../../src/workers/tasks/tag/sessions.ts';
import type { ClassifierOptions } from '../../src/workers/tasks/tag/types.ts';

let scratch: MediaScratch;
let sessions: SessionCache;
let base: ClassifierOptions;

before(async () => {
  scratch = await MediaScratch.create();
  sessions = new SessionCache();
  const labelsPath = scratch.path('txt');
  await writeFile(labelsPath, 'red\ngreen\nblue\n');
  const modelPath = scratch.path('onnx');
  await writeFile(modelPath, colourModel(32, true));
  base = { modelPath, labelsPath, size: 32, mean: [0, 0, 0], std: [1, 1, 1], topK: 3, threshold: 0.5 };
});

after(async () => {
  await sessions.close();
  await scratch.cleanup();
});

test('labels solid colours right, from a model built by the test', async () => {
  const clf = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, base);
  for (const [colour, label] of [['red', 'red'], ['0x00FF00', 'green'], ['blue', 'blue']] as const) {
    const img = await decodeImage(await scratch.solidFrame(colour, 100, 60));
    const labels = await clf.classifyFrames([img]);
    assert.equal(labels.length, 1, colour);
    assert.equal(labels[0]?.label, label);
    assert.ok((labels[0]?.score ?? 0) > 0.99);
  }
});

test('a model that outputs logits gets a softmax; ImageNet mean/std still ranks the right colour first', async () => {
  const modelPath = scratch.path('onnx');
  await writeFile(modelPath, colourModel(16, false));
  const clf = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, {
    ...base,
    modelPath,
    size: 16,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  });
  const probs = await clf.classify(await decodeImage(await scratch.solidFrame('blue')));
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  assert.equal(topLabels(probs, clf.labels, 1, 0)[0]?.label, 'blue');
});

test('top-k and threshold: yellow is half red, half green', async () => {
  const clf = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, { ...base, threshold: 0.4 });
  const img = await decodeImage(await scratch.solidFrame('yellow'));
  const labels = await clf.classifyFrames([img]);
  assert.deepEqual(labels.map((l) => l.label).sort(), ['green', 'red']);
  const one = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, { ...base, threshold: 0.4, topK: 1 });
  assert.equal((await one.classifyFrames([img])).length, 1);
  const strict = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, { ...base, threshold: 0.9 });
  assert.deepEqual(await strict.classifyFrames([img]), []);
});

test('probabilities are averaged over frames', async () => {
  const clf = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, { ...base, threshold: 0.3 });
  const red = await decodeImage(await scratch.solidFrame('red'));
  const blue = await decodeImage(await scratch.solidFrame('blue'));
  const labels = await clf.classifyFrames([red, red, blue]);
  assert.deepEqual(labels.map((l) => l.label), ['red', 'blue']);
  assert.ok(Math.abs((labels[0]?.score ?? 0) - 2 / 3) < 0.01);
});

test('a labels file that does not match the model is E_TAGGING_FAILED', async () => {
  const labelsPath = scratch.path('txt');
  await writeFile(labelsPath, 'red\ngreen\n');
  const clf = await ImageClassifier.load(sessions, { device: 'cpu', threads: 1 }, { ...base, labelsPath });
  await assert.rejects(clf.classify(await decodeImage(await scratch.solidFrame('red'))), { code: 'E_TAGGING_FAILED' });
});

test('softmax only when scores are not probabilities already', () => {
  const p = new Float32Array([0.2, 0.3, 0.5]);
  assert.equal(toProbabilities(p), p);
  const q = toProbabilities(new Float32Array([2, 0, -1]));
  assert.ok(Math.abs(q.reduce((a, b) => a + b, 0) - 1) < 1e-6 && (q[0] ?? 0) > (q[1] ?? 0));
});
