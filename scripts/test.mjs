#!/usr/bin/env node
// Runs every test file with Node's own runner. Node 20's --test does not expand globs,
// so the files are listed here. Pass paths or substrings to run a subset:
//   node scripts/test.mjs redis      # files whose path contains "redis"
// It first provisions what the tests need (scripts/provision.mjs): Debian packages and a Redis.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { provision } from './provision.mjs';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = walk('test')
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
let stopRedis;
try {
  stopRedis = await provision();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
stopRedis();
process.exit(res.status ?? 1);
