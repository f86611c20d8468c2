/**
 * `npm run bench -- <name>` runs bench/<name>.ts in its own process. Every benchmark
 * ends by printing one JSON line:
 *   {"bench":"<name>","unit":"...","value":N,"baseline":N,"ratio":N}
 * where the baseline is the simple alternative, measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'report.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const file = new URL(`./${name}.ts`, import.meta.url).pathname;
if (!existsSync(file)) process.exit(2);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
