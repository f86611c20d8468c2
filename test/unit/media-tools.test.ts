/**
 * Which ffmpeg/ffprobe the server runs, and the start-up check that keeps media processing off
 * unless both are FFmpeg 5.1 or newer.
 */
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkMediaTools, findExecutable, isSupported, parseToolVersion, resolveBinaries } from '../../src/workers/media/tools.ts';
import { removeDir, tempDir } from '../helpers/ffmpeg-fixtures.ts';

/** First lines of real `-version` banners. */
const BANNERS = {
  debian12: 'ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers\nbuilt with gcc 12\nlibavutil      57. 28.100 / 57. 28.100\nlibavformat    59. 27.100 / 59. 27.100\n',
  static2018: 'ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018 the FFmpeg developers\nlibavformat    58. 24.100 / 58. 24.100\n',
  ubuntu22: 'ffprobe version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2007-2021 the FFmpeg developers\nlibavformat    58. 76.100 / 58. 76.100\n',
  ffmpeg50: 'ffmpeg version 5.0.3 Copyright (c) 2000-2022 the FFmpeg developers\nlibavformat    59. 16.100 / 59. 16.100\n',
  ffmpeg7: 'ffmpeg version 7.1.1 Copyright (c) 2000-2025 the FFmpeg developers\nlibavformat    61.  7.100 / 61.  7.100\n',
  gitNew: 'ffmpeg version N-118000-gabc Copyright (c) 2000-2025 the FFmpeg developers\nlibavformat    62.  0.100 / 62.  0.100\n',
} as const;

describe('media tools', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('tremolo-tools-');
  });
  after(() => removeDir(dir));

  /** An executable that prints `banner` for `-version`, standing in for a build we cannot install here. */
  const fakeTool = async (name: string, banner: string): Promise<string> => {
    const p = join(dir, name);
    await writeFile(p, `#!/bin/sh\ncat <<'EOF'\n${banner}EOF\n`);
    await chmod(p, 0o755);
    return p;
  };

  it('defaults to ffmpeg and ffprobe on PATH; settings override', () => {
    assert.deepEqual(resolveBinaries(), { ffmpegPath: 'ffmpeg', ffprobePath: 'ffprobe' });
    assert.deepEqual(resolveBinaries({ ffmpegPath: '/opt/ff/ffmpeg', ffprobePath: '' }), { ffmpegPath: '/opt/ff/ffmpeg', ffprobePath: 'ffprobe' });
  });

  it('judges a build by its libavformat: 5.1 and newer pass, git builds included', () => {
    const ok = (banner: string): boolean => isSupported(parseToolVersion(banner)!);
    assert.equal(ok(BANNERS.debian12), true);
    assert.equal(ok(BANNERS.ffmpeg7), true);
    assert.equal(ok(BANNERS.gitNew), true);
    assert.equal(ok(BANNERS.static2018), false, 'the 2018 static build @ffmpeg-installer shipped');
    assert.equal(ok(BANNERS.ubuntu22), false);
    assert.equal(ok(BANNERS.ffmpeg50), false);
    assert.deepEqual(parseToolVersion(BANNERS.debian12), { release: '5.1.9-0+deb12u1', libavformat: [59, 27, 100] });
    assert.equal(parseToolVersion('GNU bash, version 5.2'), null);
  });

  it('accepts the system tools and reports their absolute paths', async () => {
    const report = await checkMediaTools(resolveBinaries());
    assert.ok(report.ok, report.ok ? '' : report.reason);
    assert.equal(report.binaries.ffmpegPath, await findExecutable('ffmpeg'));
    assert.match(report.binaries.ffprobePath, /^\/.+\/ffprobe$/);
    assert.match(report.versions.ffmpeg, /^\d+\.\d+/);
  });

  it('refuses a missing tool, naming it and the setting', async () => {
    const report = await checkMediaTools({ ffmpegPath: join(dir, 'nope'), ffprobePath: 'ffprobe' });
    assert.equal(report.ok, false);
    assert.equal(report.ok ? '' : report.reason, `ffmpeg not found at ${join(dir, 'nope')}`);
    const noPath = await checkMediaTools(resolveBinaries(), { env: { PATH: dir } });
    assert.equal(noPath.ok ? '' : noPath.reason, 'ffmpeg not found on PATH (as ffmpeg)');
  });

  it('refuses an old build, saying which version it is', async () => {
    const old = await fakeTool('ffprobe-2018', BANNERS.static2018.replace('ffmpeg version', 'ffprobe version'));
    const report = await checkMediaTools({ ffmpegPath: 'ffmpeg', ffprobePath: old });
    assert.equal(report.ok, false);
    assert.match(report.ok ? '' : report.reason, /^ffprobe at .*ffprobe-2018 is N-47683-g0e8eb07980-static, libavformat 58\.24\.100; 5\.1 or newer is required$/);
    const notFfmpeg = await fakeTool('not-ffmpeg', 'hello\n');
    const other = await checkMediaTools({ ffmpegPath: notFfmpeg, ffprobePath: 'ffprobe' });
    assert.match(other.ok ? '' : other.reason, /does not look like ffmpeg/);
  });
});
