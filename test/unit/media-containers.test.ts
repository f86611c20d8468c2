/**
 * The container allow-list and the truncation checks that read a file's own index: real
 * files made by ffmpeg, cut short or edited the way an interrupted copy or a crafted upload is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { containerOf, demuxerOptions, truncationOf, type Container } from '../../src/workers/media/containers.ts';
import { makeClip, makeMatroska, playlistDisguisedAsTs, removeDir, tempDir } from '../helpers/ffmpeg-fixtures.ts';

const run = promisify(execFile);

describe('containers', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('tremolo-containers-');
  });
  after(() => removeDir(dir));

  const write = async (name: string, data: Uint8Array): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, data);
    return p;
  };

  it('tells MP4/MOV and Matroska/WebM by their first bytes and nothing else', async () => {
    const mp4 = await readFile(await makeClip(dir, { seconds: 1, width: 320, height: 240 }));
    assert.equal(containerOf(mp4), 'mov');
    assert.equal(containerOf(await readFile(await makeMatroska(dir, { webm: true }))), 'matroska');
    const disguised = await readFile(await playlistDisguisedAsTs(dir, 'disguised', '/etc/passwd'));
    assert.equal(containerOf(disguised), null, 'an HLS playlist');
    assert.equal(containerOf(disguised.subarray(disguised.indexOf(0x47))), null, 'MPEG-TS');
    assert.equal(containerOf(Buffer.from('ffconcat version 1.0\nfile /etc/passwd\n')), null, 'a concat list');
    assert.equal(containerOf(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), null, 'a PNG');
    assert.equal(containerOf(mp4.subarray(0, 7)), null, 'too short to tell');
  });

  it('opens only with the named demuxer, local files only, no external MP4 references', () => {
    assert.deepEqual(demuxerOptions('mov'), ['-protocol_whitelist', 'file', '-f', 'mov', '-enable_drefs', '0']);
    assert.deepEqual(demuxerOptions('matroska'), ['-protocol_whitelist', 'file', '-f', 'matroska']);
    for (const name of ['hls', 'concat', 'image2', 'mpegts', '']) {
      assert.throws(() => demuxerOptions(name as Container), { code: 'E_MEDIA_INVALID' }, name);
    }
  });

  it('finds nothing missing in whole files (plain, faststart and fragmented MP4; Matroska; WebM, live too)', async () => {
    const fragmented = join(dir, 'fragmented.mp4');
    const plain = await makeClip(dir, { seconds: 2, width: 320, height: 240 });
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', plain, '-c', 'copy', '-movflags', 'frag_keyframe+empty_moov', fragmented]);
    for (const file of [plain, await makeClip(dir, { seconds: 2, width: 320, height: 240, faststart: true }), fragmented]) {
      assert.equal(await truncationOf(file, 'mov'), null, file);
    }
    for (const file of [await makeMatroska(dir), await makeMatroska(dir, { webm: true }), await makeMatroska(dir, { webm: true, live: true })]) {
      assert.equal(await truncationOf(file, 'matroska'), null, file);
    }
  });

  it('MP4: a box running past the end of the file', async () => {
    const fast = await readFile(await makeClip(dir, { seconds: 2, width: 160, height: 120, fps: 10, audio: false, faststart: true }));
    const cut = await write('cut-fast.mp4', fast.subarray(0, Math.floor(fast.length * 0.3)));
    assert.match((await truncationOf(cut, 'mov')) ?? '', /^it is truncated: its mdat box at byte \d+ ends at byte \d+, but the file has \d+ bytes$/);
    const plain = await readFile(await makeClip(dir, { seconds: 2, width: 160, height: 120, fps: 10, audio: false }));
    const noIndex = await write('cut-plain.mp4', plain.subarray(0, Math.floor(plain.length * 0.5)));
    assert.match((await truncationOf(noIndex, 'mov')) ?? '', /^it is truncated: /);
  });

  it('MP4: bytes after the last box that are no box (a vendor trailer) are not a cut', async () => {
    const plain = await readFile(await makeClip(dir, { seconds: 1, width: 160, height: 120, fps: 10, audio: false }));
    const trailer = Buffer.alloc(16);
    trailer.writeUInt32BE(0x7fffffff, 0);
    trailer.write('SEFT', 4, 'latin1');
    assert.equal(await truncationOf(await write('trailer.mp4', Buffer.concat([plain, trailer])), 'mov'), null);
  });

  it('MP4: sample tables pointing past the end, even when every box header was made to fit', async () => {
    const fast = await readFile(await makeClip(dir, { seconds: 2, width: 160, height: 120, fps: 10, audio: false, faststart: true }));
    const data = Buffer.from(fast.subarray(0, Math.floor(fast.length * 0.3)));
    const mdat = data.indexOf('mdat') - 4;
    data.writeUInt32BE(data.length - mdat, mdat); // the mdat box now claims exactly what is left
    const forged = await write('forged.mp4', data);
    assert.match((await truncationOf(forged, 'mov')) ?? '', /^it is truncated: its sample tables point to byte \d+, but the file has \d+ bytes$/);
  });

  it('Matroska: an index (seek head, cues) pointing past the end of a segment of unknown size', async () => {
    const mkv = Buffer.from(await readFile(await makeMatroska(dir)));
    const segment = mkv.indexOf(Buffer.from([0x18, 0x53, 0x80, 0x67]));
    assert.equal(mkv[segment + 4], 0x01, 'ffmpeg writes the segment size as 8 bytes');
    mkv.fill(0xff, segment + 5, segment + 12);
    mkv[segment + 4] = 0x01; // 0x01FFFFFFFFFFFFFF: unknown size, as a live recorder leaves it
    // Cut just before the cues at the end: every cluster is whole, only the index is gone.
    const cues = mkv.lastIndexOf(Buffer.from([0x1c, 0x53, 0xbb, 0x6b]));
    const cut = await write('no-cues.mkv', mkv.subarray(0, cues));
    assert.match((await truncationOf(cut, 'matroska')) ?? '', /^it is truncated: its index points to byte \d+, but the file has \d+ bytes$/);
  });

  it('Matroska: clusters of unknown size are walked block by block', async () => {
    const webm = Buffer.from(await readFile(await makeMatroska(dir, { webm: true, live: true })));
    const cluster = webm.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
    const sizeLen = Math.clz32(webm[cluster + 4]!) - 23;
    const size = webm.subarray(cluster + 4, cluster + 4 + sizeLen).reduce((n, b, i) => n * 256 + (i === 0 ? b & (0xff >> sizeLen) : b), 0);
    webm.fill(0xff, cluster + 5, cluster + 4 + sizeLen);
    webm[cluster + 4] = 0xff >> (sizeLen - 1); // all value bits set: unknown size
    const whole = await write('unknown-cluster.webm', webm);
    assert.equal(await truncationOf(whole, 'matroska'), null);
    const cut = await write('unknown-cluster-cut.webm', webm.subarray(0, cluster + 4 + sizeLen + Math.floor(size / 2)));
    assert.match((await truncationOf(cut, 'matroska')) ?? '', /^it is truncated: (a block at byte \d+ ends at byte \d+|the element header at byte \d+ is cut off)/);
  });

  it('reports a malformed index as a reason, not a crash', async () => {
    const head = Buffer.alloc(64);
    head.writeUInt32BE(24, 0);
    head.write('ftypisom', 4, 'latin1');
    head.writeUInt32BE(40, 24);
    head.write('moov', 28, 'latin1');
    head.writeUInt32BE(200, 32); // a trak claiming more than its moov holds
    head.write('trak', 36, 'latin1');
    assert.match((await truncationOf(await write('bad.mp4', head), 'mov')) ?? '', /^its index is malformed: the trak box at byte 32 overruns its parent$/);
    const ebml = Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80, 0x00, 0x00, 0x00]);
    assert.match((await truncationOf(await write('bad.mkv', ebml), 'matroska')) ?? '', /^its structure is malformed: /);
  });
});
