#!/usr/bin/env node
// Builds the browser demo into web/dist/: index.html, app.js (the UI with the client SDK,
// socket.io-client, hls.js and tus-js-client bundled: nothing loads from a CDN) and app.css.
//   node scripts/build-web.mjs             build
//   node scripts/build-web.mjs --if-stale  build only when an input is newer than the last build
// `npm start` and the browser tests run the second form, so a fresh clone needs no extra step.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'web');
const out = join(web, 'dist');
const stamp = join(out, '.built');
// everything the bundle is made of; package-lock.json stands for the bundled npm packages
const inputs = [join(web, 'src'), join(web, 'index.html'), join(web, 'style.css'), join(root, 'src/client'), join(root, 'src/protocol'), join(root, 'package-lock.json'), fileURLToPath(import.meta.url)];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

export function isStale() {
  return !existsSync(stamp) || newestMtime(stamp) < Math.max(...inputs.map(newestMtime));
}

export async function buildWeb({ quiet = false } = {}) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    // a production install (--omit=dev) has no esbuild: the server then explains at / what to run
    console.warn('build-web: esbuild is not installed (npm install, with dev dependencies), web/dist not built');
    return false;
  }
  const started = Date.now();
  mkdirSync(out, { recursive: true });
  const result = await esbuild.build({
    write: false,
    entryPoints: [join(web, 'src/main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    legalComments: 'eof',
    logLevel: quiet ? 'error' : 'warning',
    alias: {
      // the SDK's emitters need only on/off/once/emit: a few lines instead of a Node polyfill
      'node:events': join(web, 'src/events-shim.ts'),
      // the light build plays HLS (no subtitles, alternate audio or DRM): ~40% smaller
      'hls.js': join(root, 'node_modules/hls.js/dist/hls.light.mjs'),
    },
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const js = result.outputFiles.find((f) => f.path.endsWith('app.js'))?.contents;
  const css = readFileSync(join(web, 'style.css'));
  // a content hash in the URLs so a browser never runs a stale bundle after a rebuild
  const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12);
  const html = readFileSync(join(web, 'index.html'), 'utf8').replace('href="app.css"', `href="app.css?v=${version}"`).replace('src="app.js"', `src="app.js?v=${version}"`);
  // Each file is replaced by a rename, never removed first: a server (or a test's server)
  // starting meanwhile finds the old build or the new one, not half of one.
  const files = [...result.outputFiles.map((f) => [f.path, f.contents]), [join(out, 'app.css'), css], [join(out, 'index.html'), html]];
  for (const [path, contents] of files) {
    writeFileSync(`${path}.${process.pid}.tmp`, contents);
    renameSync(`${path}.${process.pid}.tmp`, path);
  }
  writeFileSync(stamp, `${new Date().toISOString()} ${version}\n`);
  if (!quiet) {
    const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;
    const bytes = files.reduce((sum, [, c]) => sum + Buffer.byteLength(c), 0);
    console.log(`build-web: web/dist (app.js ${kb(js.length)}, all files ${kb(bytes)}) in ${Date.now() - started} ms`);
  }
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ifStale = process.argv.includes('--if-stale');
  if (ifStale && !isStale()) process.exit(0);
  const ok = await buildWeb();
  process.exit(ok || ifStale ? 0 : 1);
}
