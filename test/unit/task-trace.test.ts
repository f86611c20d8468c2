/**
 * Spans timed in a worker thread (task-protocol.ts): what a task records comes back as data,
 * numbered in start order with its parent, its own times, its attributes and its failure; an
 * untraced task records nothing; a runaway task is capped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { MAX_WORKER_SPANS, recordingTask, untracedTask, type WorkerSpan } from '../../src/workers/task-protocol.ts';

describe('task traces', () => {
  it('records nested, concurrent and failed steps with their parents and times', async () => {
    const out: WorkerSpan[] = [];
    const trace = recordingTask(out);
    await trace.span(
      'outer',
      async (outer) => {
        await Promise.all([outer.span('a', async () => {}), outer.span('b', async (b) => b.set({ late: 2 }), { early: 1 })]);
        outer.record('timed elsewhere', 10, 20, { k: 'v' });
      },
      { level: 'top' },
    );
    await assert.rejects(trace.span('broken', () => Promise.reject(new TremoloError('E_MEDIA_INVALID'))));
    const byName = new Map(out.map((s) => [s.name, s]));
    assert.deepEqual([...out].sort((x, y) => x.id - y.id).map((s) => s.name), ['outer', 'a', 'b', 'timed elsewhere', 'broken']);
    const outer = byName.get('outer')!;
    assert.equal(outer.parent, 0, 'a top step is a child of the caller');
    assert.deepEqual(outer.attributes, { level: 'top' });
    for (const n of ['a', 'b', 'timed elsewhere']) assert.equal(byName.get(n)!.parent, outer.id, `${n} under outer`);
    assert.deepEqual(byName.get('b')!.attributes, { early: 1, late: 2 });
    assert.deepEqual([byName.get('timed elsewhere')!.startTime, byName.get('timed elsewhere')!.endTime], [10, 20]);
    assert.ok(outer.startTime <= byName.get('a')!.startTime && byName.get('a')!.endTime <= outer.endTime, 'children within their parent');
    assert.equal(byName.get('broken')!.error, 'E_MEDIA_INVALID');
    assert.equal(outer.error, undefined);
  });

  it('records nothing untraced, and at most MAX_WORKER_SPANS when traced', async () => {
    assert.equal(await untracedTask.span('x', async (s) => (s.recording ? 1 : 2)), 2);
    const out: WorkerSpan[] = [];
    const trace = recordingTask(out);
    for (let i = 0; i < MAX_WORKER_SPANS + 10; i++) await trace.span('step', async () => i);
    assert.equal(out.length, MAX_WORKER_SPANS);
  });
});
