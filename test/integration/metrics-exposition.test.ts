/**
 * The metrics exposition as Prometheus's own linter reads it: `promtool check metrics`
 * (Debian package `prometheus`, provisioned by scripts/test.mjs) over the registry of a
 * running server that has served requests, so the histograms and labelled series are there.
 */
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Tremolo } from '../../src/main.ts';
import { newUser, startServer } from '../helpers/server.ts';

function promtoolCheck(exposition: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(exposition);
  });
}

describe('metrics exposition', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('passes promtool check metrics after real traffic', async () => {
    const alice = await newUser(server, 'prom');
    const video = await alice.http.createVideo({ title: 'metrics', mediaUrl: 'https://cdn.example/v.mp4' });
    await alice.http.like(video.id);
    await alice.http.getVideo(video.id);
    const exposition = await server.metrics.registry.metrics();
    assert.match(exposition, /tremolo_http_request_duration_seconds_bucket/);
    assert.match(exposition, /nodejs_active_handles\{/);
    const { code, output } = await promtoolCheck(exposition);
    assert.equal(output.trim(), '', `promtool reported:\n${output}`);
    assert.equal(code, 0);
  });
});
