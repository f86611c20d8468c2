import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { expandIncludes } from '../../src/storage/redis/scripts.ts';
import { removeDir, tempDir } from '../helpers/ffmpeg-fixtures.ts';

describe('Lua includes', () => {
  let dir: string;
  let includes: URL;
  before(async () => {
    dir = await tempDir('tremolo-lua-');
    await mkdir(join(dir, 'includes'));
    await writeFile(join(dir, 'includes', 'a.lua'), '--- @include "b"\nlocal function a() return b() end\n');
    await writeFile(join(dir, 'includes', 'b.lua'), 'local function b() return 1 end\n');
    includes = pathToFileURL(join(dir, 'includes') + '/');
  });
  after(() => removeDir(dir));

  it('inlines each include once, includes of includes first', () => {
    const lua = expandIncludes('--- @include "a"\n--- @include "b"\nreturn a()\n', includes, new Set(), 'x-1.lua');
    assert.equal(lua, 'local function b() return 1 end\nlocal function a() return b() end\n-- (b is already included)\nreturn a()\n');
  });

  it('names the script and the missing file', () => {
    assert.throws(() => expandIncludes('--- @include "nope"\n', includes, new Set(), 'x-1.lua'), /x-1\.lua includes "nope".*nope\.lua does not exist/);
  });

});
