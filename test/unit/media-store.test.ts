import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TremoloError } from '../../src/protocol/errors.ts';
import { FileMediaStore } from '../../src/storage/media/media-store.ts';
import { removeDir, tempDir } from '../helpers/ffmpeg-fixtures.ts';

describe('FileMediaStore', () => {
  let root: string;
  let store: FileMediaStore;
  before(async () => {
    root = await tempDir('tremolo-store-');
    store = new FileMediaStore({ root });
  });
  after(() => removeDir(root));

  it('keeps each video in its own directory and stats its files', async () => {
    const dir = store.dirFor('v1');
    assert.equal(dir, join(root, 'v1'));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'poster.jpg'), 'abc');
    assert.equal((await store.stat('v1/poster.jpg'))?.size, 3);
    assert.equal(await store.stat('v1/missing.jpg'), null);
    assert.equal(store.resolve('v1/poster.jpg'), join(root, 'v1', 'poster.jpg'));
  });

  it('refuses ids and paths that could leave the store', () => {
    for (const id of ['', '..', 'a/b', 'a\\b', '.']) assert.throws(() => store.dirFor(id), TremoloError);
    for (const p of ['../x', 'v1/../../x', 'v1/%2e%2e/x', '/etc/passwd', 'v1//x', 'v1/./x', 'v1']) {
      assert.throws(() => store.resolve(p), (e: unknown) => e instanceof TremoloError && e.code === 'E_VALIDATION', p);
    }
  });

  it('removes a video, and removing it twice is fine', async () => {
    await store.remove('v1');
    await assert.rejects(stat(join(root, 'v1')));
    await store.remove('v1');
  });
});
