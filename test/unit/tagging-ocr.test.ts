import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { characterAccuracy, editDistance, MediaScratch, requireFont } from '../helpers/media-fixtures.ts';
import { ctcGreedy, OcrEngine, readImageFile } from '../../src/workers/tasks/tag/ocr.ts';
import { SessionCache } from '../../src/workers/tasks/tag/sessions.ts';
import { boxesFromProbabilityMap, convexHull, minAreaRect } from '../../src/workers/tasks/tag/text-boxes.ts';
import type { OcrLine } from '../../src/workers/tasks/tag/types.ts';

/**
 * Least character accuracy over all generated frames. Measured 1.000 (every character right)
 * with PaddleOCR v4 mobile on these frames; the margin absorbs font-rendering differences
 * between ffmpeg builds without letting a broken pipeline (which scores near 0) pass.
 */
const MIN_ACCURACY = 0.9;

let scratch: MediaScratch;
let sessions: SessionCache;
let engine: OcrEngine;

before(async () => {
  scratch = await MediaScratch.create();
  sessions = new SessionCache();
  engine = await OcrEngine.load(sessions, { device: 'cpu', threads: 2 });
});

after(async () => {
  await sessions.close();
  await scratch.cleanup();
});

const joined = (lines: OcrLine[]): string => lines.map((l) => l.text).join('');

test('reads Latin and Chinese text from generated frames with measured character accuracy', async (t) => {
  const latin = requireFont('latin');
  const cjk = requireFont('cjk');
  const cases: { lines: string[]; font: string; opts?: { colour?: string; background?: string; fontSize?: number; angle?: number } }[] = [
    { lines: ['HELLO 2026'], font: latin },
    { lines: ['抖音 直播'], font: cjk },
    { lines: ['HELLO 抖音 2026', '短视频 Live Show'], font: cjk },
    { lines: ['关注 点赞 评论'], font: cjk, opts: { colour: 'white', background: '0x202040' } },
    { lines: ['Follow for more'], font: latin, opts: { fontSize: 36 } },
    { lines: ['今天 天气 很好', 'SUMMER SALE 50'], font: cjk, opts: { angle: 0.12 } },
  ];
  let errors = 0;
  let chars = 0;
  for (const c of cases) {
    const frame = await scratch.textFrame({ lines: c.lines, font: c.font, ...c.opts });
    const read = await readImageFile(engine, frame);
    const expected = c.lines.join('');
    const acc = characterAccuracy(expected, joined(read));
    t.diagnostic(`${JSON.stringify(c.lines)} -> ${JSON.stringify(read.map((l) => l.text))} accuracy ${acc.toFixed(3)}`);
    const e = expected.replace(/\s+/g, '');
    errors += editDistance(e, joined(read).replace(/\s+/g, ''));
    chars += [...e].length;
    assert.equal(read.length, c.lines.length, `one line per rendered line in ${JSON.stringify(c.lines)}`);
    for (const line of read) assert.ok(line.confidence >= 0.5 && line.confidence <= 1, `confidence ${line.confidence}`);
  }
  const accuracy = 1 - errors / chars;
  t.diagnostic(`character accuracy over ${chars} characters: ${accuracy.toFixed(4)}`);
  assert.ok(accuracy >= MIN_ACCURACY, `character accuracy ${accuracy} below ${MIN_ACCURACY}`);
});

test('places the box around the text, in image coordinates, top line first', async () => {
  const frame = await scratch.textFrame({ lines: ['TOP LINE', 'BOTTOM LINE'], font: requireFont('latin'), width: 800, height: 400 });
  const read = await readImageFile(engine, frame);
  assert.deepEqual(read.map((l) => l.text.replace(/\s+/g, '')), ['TOPLINE', 'BOTTOMLINE']);
  const [top, bottom] = read;
  assert.ok(top && bottom);
  for (const [x, y] of top.box) assert.ok(x >= 0 && x <= 800 && y >= 0 && y < 200, `top corner ${x},${y}`);
  for (const [x, y] of bottom.box) assert.ok(x >= 0 && x <= 800 && y > 200 && y <= 400, `bottom corner ${x},${y}`);
  // The boxes are centred horizontally like the rendered text.
  const cx = (top.box[0][0] + top.box[1][0]) / 2;
  assert.ok(Math.abs(cx - 400) < 40, `centre x ${cx}`);
});

test('rotated text gets a rotated box', async () => {
  const frame = await scratch.textFrame({ lines: ['ROTATED TEXT'], font: requireFont('latin'), angle: 0.2 });
  const [line] = await readImageFile(engine, frame);
  assert.ok(line);
  assert.ok(characterAccuracy('ROTATED TEXT', line.text) >= 0.8, line.text);
  const [tl, tr] = line.box;
  const angle = Math.atan2(tr[1] - tl[1], tr[0] - tl[0]);
  assert.ok(Math.abs(angle - 0.2) < 0.06, `box angle ${angle}`);
});

test('a frame without text gives no lines', async () => {
  const frame = await scratch.solidFrame('white', 640, 360);
  assert.deepEqual(await readImageFile(engine, frame), []);
});

test('an undecodable keyframe is E_MEDIA_INVALID', async () => {
  await assert.rejects(readImageFile(engine, '/nonexistent/frame.png'), { code: 'E_MEDIA_INVALID' });
});

test('CTC greedy decoding collapses repeats and drops blanks', () => {
  const charset = ['', 'a', 'b', ' '];
  // steps: a a blank a b b  -> "aab"
  const best = [1, 1, 0, 1, 2, 2];
  const probs = new Float32Array(best.length * 4);
  best.forEach((c, t) => (probs[t * 4 + c] = 0.9));
  const { text, confidence } = ctcGreedy(probs, 0, best.length, 4, charset);
  assert.equal(text, 'aab');
  assert.ok(Math.abs(confidence - 0.9) < 1e-6);
});

test('DB post-processing finds one box per blob and unclips it', () => {
  const w = 100;
  const h = 60;
  const map = new Float32Array(w * h);
  const fill = (x0: number, y0: number, x1: number, y1: number): void => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * w + x] = 0.9;
  };
  fill(10, 10, 60, 20); // 50 x 10 text kernel
  fill(20, 40, 80, 50);
  map[5 * w + 90] = 0.95; // a lone pixel is noise
  const boxes = boxesFromProbabilityMap(map, w, h);
  assert.equal(boxes.length, 2);
  for (const b of boxes) {
    assert.ok(b.score > 0.85);
    assert.ok(Math.abs(b.rect.u[1]) < 1e-9, 'axis-aligned blob gives an axis-aligned box');
    // Kernel 49 x 9 between pixel centres; unclip distance 49*9*1.5/(2*58) ≈ 5.7 each side.
    assert.ok(b.rect.width > 55 && b.rect.width < 75, `width ${b.rect.width}`);
    assert.ok(b.rect.height > 15 && b.rect.height < 25, `height ${b.rect.height}`);
  }
});

test('minimum-area rectangle of a rotated square is the square', () => {
  const a = Math.PI / 6;
  const corners: [number, number][] = [[0, 0], [10, 0], [10, 10], [0, 10]].map(([x = 0, y = 0]) => [
    x * Math.cos(a) - y * Math.sin(a),
    x * Math.sin(a) + y * Math.cos(a),
  ]);
  const rect = minAreaRect(convexHull(corners));
  assert.ok(Math.abs(rect.width - 10) < 1e-6 && Math.abs(rect.height - 10) < 1e-6);
});
