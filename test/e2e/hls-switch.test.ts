/**
 * Rendition switching in a real player: a clip uploaded to a real tremolo (tus, job, ffmpeg)
 * is played from its signed HLS URL by hls.js in Debian's Chromium, starting on the top rung
 * and forced down to the lowest one mid-play. With renditions on different timelines
 * (issue 15: the lower rungs started 1.4 s late) hls.js plays past the end of the video
 * (a 3.04 s clip played to 4.49 s; here a 6 s clip to 7.48 s); on one timeline `currentTime`
 * never exceeds the playlists' length (plus a few frames) and playback ends. Both kinds of
 * forced switch are played: `currentLevel` (at once) and `nextLevel` (from the next segment).
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Tremolo } from '../../src/main.ts';
import type { Video } from '../../src/protocol/model.ts';
import { makeClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';
import { tusUpload } from '../helpers/tus-upload.ts';
import { launchBrowser } from './browser.ts';

const HLS_JS = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js');
/** The clip's length: long enough to switch well before the end. */
const CLIP_S = 6;
/** How far past the playlists' length currentTime may go: the first frame starts a few frames in. */
const SLACK_S = 0.25;

/** What the page saw while playing. */
interface Playback {
  /** The media element's duration (Media Source: grows with what was appended). */
  duration: number;
  /** The longest rendition playlist's duration, the sum of its segment durations. */
  playlistDuration: number;
  maxTime: number;
  ended: boolean;
  switchedAt: number | null;
  levels: number[];
  /** Levels of the video fragments hls.js loaded, in order. */
  fragLevels: number[];
  error?: string;
}

/**
 * Runs in the page (as text: the test's own transpiler would add helpers the page lacks).
 * Plays `src` with hls.js from the top rung, switches to the lowest at `switchAfterS` by setting
 * `how` (`currentLevel`: at once, flushing the buffer and reloading from the current position;
 * `nextLevel`: from the next segment), and resolves at `ended`, on a fatal error, or after `boundMs`.
 */
const PLAY_AND_SWITCH = `async ({ src, how, switchAfterS, boundMs }) => {
  document.querySelector('video')?.remove();
  const video = document.createElement('video');
  video.muted = true;
  document.body.append(video);
  const seen = { duration: NaN, playlistDuration: NaN, maxTime: 0, ended: false, switchedAt: null, levels: [], fragLevels: [] };
  if (!Hls.isSupported()) return { ...seen, error: 'hls.js is not supported here' };
  // a short buffer, so segments after the switch are still to be loaded when it happens
  const hls = new Hls({ capLevelToPlayerSize: false, maxBufferLength: 1, maxMaxBufferLength: 2 });
  const watch = () => {
    seen.maxTime = Math.max(seen.maxTime, video.currentTime);
    seen.duration = video.duration;
  };
  return new Promise((resolve) => {
    let poll, bound;
    const finish = (error) => {
      watch();
      seen.playlistDuration = Math.max(...hls.levels.map((l) => (l.details ? l.details.totalduration : 0)));
      clearInterval(poll);
      clearTimeout(bound);
      hls.destroy();
      resolve(error ? { ...seen, error } : seen);
    };
    // sampled on every timeupdate and every 20 ms in between
    poll = setInterval(watch, 20);
    bound = setTimeout(() => finish('playback did not end within ' + boundMs + ' ms (at ' + video.currentTime + ' s)'), boundMs);
    video.addEventListener('timeupdate', () => {
      watch();
      if (seen.switchedAt === null && video.currentTime >= switchAfterS) {
        seen.switchedAt = video.currentTime;
        hls[how] = 0;
      }
    });
    video.addEventListener('ended', () => {
      seen.ended = true;
      finish();
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      seen.levels = hls.levels.map((l) => l.height);
      hls.currentLevel = hls.levels.length - 1; // the top rung, no ABR
      video.play().catch((e) => finish('play() failed: ' + e));
    });
    hls.on(Hls.Events.FRAG_LOADED, (_e, data) => {
      if (data.frag.type === 'main') seen.fragLevels.push(data.frag.level);
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (data.fatal) finish('hls.js fatal error: ' + data.details);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  });
}`;

describe('HLS rendition switching in Chromium (hls.js)', () => {
  let server: Tremolo;
  let browser: Browser;
  let page: Page;
  let scratch: string;
  let hlsUrl: string;

  before(async () => {
    scratch = await tempDir('tremolo-hls-switch-');
    server = await startServer({ DATA_DIR: scratch, FFMPEG_PATH: 'ffmpeg', FFPROBE_PATH: 'ffprobe' });
    const alice = await newUser(server, 'hls');
    const clip = await makeClip(scratch, { seconds: CLIP_S, width: 1280, height: 720, fps: 30 });
    const { jobId } = await tusUpload(server, await readFile(clip), alice.token, { title: 'switching renditions' });
    let videoId: string | undefined;
    await eventually(
      async () => {
        const job = (await (await fetch(`${server.url}/v1/jobs/${jobId}`, { headers: { authorization: `Bearer ${alice.token}` } })).json()) as {
          stage: string;
          videoId?: string;
          error?: unknown;
        };
        if (job.stage === 'failed' || job.stage === 'cancelled') throw new Error(`job ${job.stage}: ${JSON.stringify(job.error)}`);
        videoId = job.stage === 'ready' ? job.videoId : undefined;
        return videoId !== undefined;
      },
      'the upload to be published',
      90_000,
    );
    const video = (await (await fetch(`${server.url}/v1/videos/${videoId}`)).json()) as Video;
    assert.ok(video.media.hls, 'the video has an HLS rendition');
    hlsUrl = video.media.hls;

    browser = await launchBrowser();
    page = await browser.newPage();
    // A bare page on the server's own origin (so the signed media URLs are same-origin),
    // served by the test rather than the server: it is no page of the app.
    const pageUrl = `${server.url}/__hls-switch-test`;
    await page.route(pageUrl, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>hls.js</title>' }));
    await page.goto(pageUrl);
    await page.addScriptTag({ path: HLS_JS });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('this Chromium plays H.264/AAC through Media Source Extensions', async () => {
    const supported = await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001f,mp4a.40.2"'));
    assert.equal(supported, true, 'Chromium without H.264 cannot run the switching test below');
  });

  /** Plays the upload, switching down with `how`; fails unless it played to the end within the video's length. */
  async function playAndSwitch(how: 'currentLevel' | 'nextLevel'): Promise<void> {
    const args = { src: hlsUrl, how, switchAfterS: 0.5, boundMs: 60_000 };
    const result = (await page.evaluate(`(${PLAY_AND_SWITCH})(${JSON.stringify(args)})`)) as Playback;
    const seen = JSON.stringify(result);
    assert.equal(result.error, undefined, seen);
    assert.deepEqual(result.levels, [480, 720], 'two renditions, lowest first');
    assert.ok(result.switchedAt !== null, 'the switch was made mid-play');
    assert.equal(result.fragLevels[0], 1, `playback started on the top rung: ${seen}`);
    assert.ok(result.fragLevels.includes(0), `fragments of the lowest rung were played: ${seen}`);
    assert.ok(Math.abs(result.playlistDuration - CLIP_S) < 0.2, `the playlists last ${result.playlistDuration} s for a ${CLIP_S} s clip`);
    const end = result.playlistDuration + SLACK_S;
    assert.ok(result.maxTime <= end, `currentTime reached ${result.maxTime} s, past the video's end (${result.playlistDuration} s): ${seen}`);
    assert.ok(result.duration <= end, `the player's timeline grew to ${result.duration} s: ${seen}`);
    assert.equal(result.ended, true);
  }

  it('an immediate down-switch (currentLevel) mid-play never takes currentTime past the end, and playback ends', () => playAndSwitch('currentLevel'));

  it('a down-switch at the next segment (nextLevel) never takes currentTime past the end, and playback ends', () => playAndSwitch('nextLevel'));
});
