/**
 * The documentation states facts that live in code: the settings (src/config.ts), the error
 * catalog (src/protocol/errors.ts) and the socket events (src/protocol/live.ts). These checks
 * keep README.md and docs/ in step with them, and every relative link (and its #anchor) resolving.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { SETTINGS, configTable } from '../../src/config.ts';
import { ERROR_CATALOG } from '../../src/protocol/errors.ts';
import { CLIENT_EVENTS } from '../../src/protocol/live.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const pages = ['README.md', ...readdirSync(join(root, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`)];

/** The names of an interface's members in src/protocol/live.ts, read with the compiler's parser. */
function eventsOf(interfaceName: string): string[] {
  const file = ts.createSourceFile('live.ts', read('src/protocol/live.ts'), ts.ScriptTarget.Latest);
  const decl = file.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === interfaceName);
  assert.ok(decl, `src/protocol/live.ts declares ${interfaceName}`);
  return decl.members.map((m) => (m.name && ts.isStringLiteral(m.name) ? m.name.text : m.name!.getText(file)));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const body = markdown.replace(/^```[\s\S]*?^```/gm, '');
  for (const [, text] of body.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(text!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe('documentation', () => {
  it('has the settings table of src/config.ts in docs/operations.md, as `tremolo config` prints it', () => {
    const page = read('docs/operations.md');
    assert.ok(page.includes(configTable()), 'docs/operations.md settings table is stale: run `node --import tsx src/cli/main.ts config` and paste it');
    for (const s of Object.values(SETTINGS)) assert.ok(page.includes(`| \`${s.env}\` |`), `docs/operations.md lists ${s.env}`);
  });

  it('lists every error code with its HTTP status in docs/api.md', () => {
    const page = read('docs/api.md');
    for (const [code, { status }] of Object.entries(ERROR_CATALOG)) {
      assert.ok(page.includes(`| \`${code}\` | ${status} |`), `docs/api.md lists ${code} with status ${status}`);
    }
  });

  it('specifies every socket event of src/protocol/live.ts in docs/protocol.md', () => {
    const page = read('docs/protocol.md');
    const headings = [...page.matchAll(/^### (.+)$/gm)].map((m) => m[1]!);
    const clientEvents = eventsOf('ClientToServerEvents');
    assert.deepEqual([...clientEvents].sort(), [...CLIENT_EVENTS].sort(), 'CLIENT_EVENTS names every client event');
    for (const event of clientEvents) {
      assert.ok(
        headings.some((h) => h.split(', ').includes(event)),
        `docs/protocol.md has a section for the client event ${event}`,
      );
    }
    const serverEvents = eventsOf('ServerToClientEvents');
    assert.ok(serverEvents.length >= 9);
    for (const event of serverEvents) assert.ok(page.includes(`| \`${event}\` |`), `docs/protocol.md's table has the server event ${event}`);
    for (const event of eventsOf('InterServerEvents')) assert.ok(page.includes(`\`${event}\``), `docs/protocol.md names the inter-server event ${event}`);
  });

  it('resolves every relative link in the README and docs/, anchors included', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = read(page).replace(/^```[\s\S]*?^```/gm, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue; // http:, https:, mailto:
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const file = path ? resolve(dirname(join(root, page)), path) : join(root, page);
        if (!existsSync(file)) {
          broken.push(`${page}: ${target} (no ${relative(root, file)})`);
          continue;
        }
        if (anchor !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor)) {
          broken.push(`${page}: ${target} (no heading #${anchor})`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  it('keeps the README a front door that links every guide', () => {
    const readme = read('README.md');
    assert.ok(readme.split('\n').length <= 250, 'README.md stays at most 250 lines');
    for (const page of pages.filter((p) => p.startsWith('docs/'))) assert.ok(readme.includes(`](${page})`), `README links ${page}`);
  });
});
