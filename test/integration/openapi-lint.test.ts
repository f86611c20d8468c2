/**
 * The OpenAPI document a real server serves passes Redocly's recommended rules with no
 * error and no warning (security on every operation, summaries, a server, defined path
 * parameters, 4xx answers, ...). Redocly CLI runs as a child process with telemetry and
 * update checks off, under a time limit, on the document fetched from /openapi.json.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { startServer } from '../helpers/server.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REDOCLY = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');

interface LintReport {
  totals: { errors: number; warnings: number };
  problems: { ruleId: string; severity: string; message: string; location?: { pointer?: string }[] }[];
}

/** `redocly lint` of `file` with the repository's redocly.yaml, as JSON. */
function lint(file: string): Promise<LintReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [REDOCLY, 'lint', file, '--config', join(ROOT, 'redocly.yaml'), '--format', 'json', '--max-problems', '1000'],
      {
        cwd: ROOT,
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      },
      (err, stdout, stderr) => {
        // it exits 1 when it finds errors: the report is on stdout all the same
        try {
          resolve(JSON.parse(stdout) as LintReport);
        } catch {
          reject(new Error(`redocly gave no report (${err?.message ?? 'no error'}): ${stderr.slice(0, 2000)}`));
        }
      },
    );
  });
}

for (const [what, env] of [
  ['with no PUBLIC_URL', {}],
  ['with a PUBLIC_URL', { PUBLIC_URL: 'https://tremolo.test/' }],
] as const) {
  test(`Redocly's recommended rules find no problem in /openapi.json (${what})`, async () => {
    const dir = await tempDir('tremolo-openapi-lint-');
    const server = await startServer({ DATA_DIR: dir, ...env });
    try {
      const file = join(dir, 'openapi.json');
      await writeFile(file, await (await fetch(`${server.url}/openapi.json`)).text());
      const report = await lint(file);
      const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location?.[0]?.pointer ?? '?'}: ${p.message}`);
      assert.deepEqual(problems, []);
      assert.deepEqual(report.totals, { ...report.totals, errors: 0, warnings: 0 });
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
