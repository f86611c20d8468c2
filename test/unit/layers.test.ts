/**
 * The layers of ARCHITECTURE.md, checked on the sources: transport -> actors (and the media
 * services, src/media) -> storage; workers run jobs below transport and never reach up into
 * it; and Redis known only to the storage layer (its clients, the Socket.IO adapter built on
 * them, and every key and channel name, built in keys.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

interface Source {
  /** Path under src/, with forward slashes. */
  path: string;
  text: string;
  /** What it imports: package names, or paths under src/ for relative imports. */
  imports: string[];
}

function sources(dir = SRC): Source[] {
  return readdirSync(dir).flatMap((name): Source[] => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    if (!p.endsWith('.ts')) return [];
    const text = readFileSync(p, 'utf8');
    const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'([^']+)'/gm)].map((m) => m[1]!);
    const imports = specifiers.map((s) => (s.startsWith('.') ? relative(SRC, resolve(dirname(p), s)).split(sep).join('/') : s));
    return [{ path: relative(SRC, p).split(sep).join('/'), text, imports }];
  });
}

const ALL = sources();
const under = (folder: string) => ALL.filter((s) => s.path.startsWith(`${folder}/`));
const REDIS_PACKAGES = ['ioredis', '@socket.io/redis-adapter'];

describe('layers', () => {
  it('reads the sources (the checks below are not vacuous)', () => {
    assert.ok(under('transport').length > 10);
    assert.ok(ALL.some((s) => s.imports.includes('ioredis')), 'the Redis driver imports ioredis');
  });

  it('transport imports no storage driver, no ioredis and no Redis adapter', () => {
    const offending = under('transport').flatMap((s) =>
      s.imports
        .filter((i) => REDIS_PACKAGES.includes(i) || i.startsWith('storage/redis/') || i.startsWith('storage/memory/'))
        .map((i) => `${s.path} imports ${i}`),
    );
    assert.deepEqual(offending, []);
  });

  it('transport imports nothing from storage: no driver, no Store, no media or upload files, no record types', () => {
    // What transport needs from below comes through the Engine and the media services;
    // shared record types live in domain/ or protocol/.
    const offending = under('transport').flatMap((s) => s.imports.filter((i) => i.startsWith('storage/')).map((i) => `${s.path} imports ${i}`));
    assert.deepEqual(offending, []);
  });

  it('transport reaches the upload and media files only through the media services', () => {
    const offending = under('transport').flatMap((s) => [
      ...s.imports.filter((i) => i.startsWith('storage/media/')).map((i) => `${s.path} imports ${i}`),
      ...[...s.text.matchAll(/\b(?:new\s+(?:UploadFiles|FileMediaStore)|UploadFiles\.)/g)].map((m) => `${s.path} uses ${m[0]}`),
    ]);
    assert.deepEqual(offending, []);
  });

  it('workers import nothing from transport: the job runner and the pool sit below it', () => {
    assert.ok(under('workers').length > 5);
    const offending = under('workers').flatMap((s) => s.imports.filter((i) => i.startsWith('transport/')).map((i) => `${s.path} imports ${i}`));
    assert.deepEqual(offending, []);
  });

  it('the media services sit below transport: src/media imports nothing from it', () => {
    assert.ok(under('media').length > 0);
    const offending = under('media').flatMap((s) => s.imports.filter((i) => i.startsWith('transport/')).map((i) => `${s.path} imports ${i}`));
    assert.deepEqual(offending, []);
  });

  it('transport reaches no Store: nothing from storage/store.ts, no store.users/videos/feeds/jobs', () => {
    const offending = under('transport').flatMap((s) => [
      ...s.imports.filter((i) => i === 'storage/store.ts').map((i) => `${s.path} imports ${i}`),
      ...[...s.text.matchAll(/\bstore\.(users|videos|feeds|jobs)\b/g)].map((m) => `${s.path} uses ${m[0]}`),
    ]);
    assert.deepEqual(offending, []);
  });

  it('only the storage layer holds Redis clients (main.ts included)', () => {
    const offending = ALL.filter((s) => !s.path.startsWith('storage/')).flatMap((s) =>
      s.imports.filter((i) => REDIS_PACKAGES.includes(i)).map((i) => `${s.path} imports ${i}`),
    );
    assert.deepEqual(offending, []);
  });

  it('every Redis key and channel name is built in keys.ts', () => {
    // a name built elsewhere interpolates the configured prefix (`${config.redisPrefix}...`)
    const offending = ALL.filter((s) => s.path !== 'storage/redis/keys.ts').flatMap((s) =>
      [...s.text.matchAll(/\$\{[^}]*(?:redisPrefix|\.prefix)\}[^`]*/g)].map((m) => `${s.path}: ${m[0]}`),
    );
    assert.deepEqual(offending, []);
  });

  it('OpenTelemetry is imported only by telemetry/otel.ts and its export thread, which are only loaded on demand', () => {
    const SDK_SIDE = ['telemetry/otel.ts', 'telemetry/export-thread.ts'];
    const offending = ALL.filter((s) => !SDK_SIDE.includes(s.path)).flatMap((s) =>
      s.imports.filter((i) => i.startsWith('@opentelemetry/')).map((i) => `${s.path} imports ${i}`),
    );
    assert.deepEqual(offending, []);
    assert.ok(ALL.find((s) => s.path === 'telemetry/otel.ts')?.imports.includes('@opentelemetry/api'), 'otel.ts is the SDK side');
    // only a dynamic import (when TRACING_ENABLED) reaches it
    const importers = ALL.filter((s) => s.imports.includes('telemetry/otel.ts'));
    assert.deepEqual(importers.map((s) => s.path), ['telemetry/index.ts']);
    assert.match(importers[0]!.text, /await import\('\.\/otel\.ts'\)/);
    assert.doesNotMatch(importers[0]!.text, /^import [^\n]*'\.\/otel\.ts'/m);
    // the export thread is started by otel.ts, which takes only its message types
    const threadImporters = ALL.filter((s) => s.imports.includes('telemetry/export-thread.ts'));
    assert.deepEqual(threadImporters.map((s) => s.path), ['telemetry/otel.ts']);
    assert.match(threadImporters[0]!.text, /^import type [^\n]*'\.\/export-thread\.ts'/m);
    assert.match(threadImporters[0]!.text, /module = '\.\/export-thread'/);
  });
});
