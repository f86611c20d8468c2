import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MediaScratch } from '../helpers/media-fixtures.ts';
import { SessionCache } from '../../src/workers/tasks/tag/sessions.ts';
import {
  DEFAULT_VAD_SETTINGS,
  SpeechDetector,
  speechSegments,
  speechTag,
  WINDOW,
  SAMPLE_RATE,
} from '../../src/workers/tasks/tag/speech.ts';

/**
 * Measured with Silero VAD v4 on these files: espeak-ng speech 0.886 (0.881 through AAC in an
 * MP4), 440 Hz tone, white noise and silence 0.000. The bounds leave room for other espeak-ng
 * voices and ffmpeg builds while still telling the two apart.
 */
const MIN_SPEECH_RATIO = 0.6;
const MAX_NON_SPEECH_RATIO = 0.05;

let scratch: MediaScratch;
let sessions: SessionCache;
let vad: SpeechDetector;

before(async () => {
  scratch = await MediaScratch.create();
  sessions = new SessionCache();
  vad = await SpeechDetector.load(sessions, { device: 'cpu', threads: 1 });
});

after(async () => {
  await sessions.close();
  await scratch.cleanup();
});

const SENTENCE =
  'The quick brown fox jumps over the lazy dog. Short videos are fun to watch, and people like to comment on them.';

test('speech from espeak-ng has a high speech ratio and is tagged speech', async (t) => {
  const report = await vad.analyseFile(await scratch.speechWav(SENTENCE));
  t.diagnostic(`speech ratio ${report.ratio.toFixed(3)} over ${report.durationS.toFixed(2)} s, ${report.segments.length} segments`);
  assert.equal(report.hasAudio, true);
  assert.ok(report.ratio >= MIN_SPEECH_RATIO, `ratio ${report.ratio}`);
  assert.equal(speechTag(report), 'speech');
  assert.ok(report.segments.length >= 1);
  let prevEnd = 0;
  for (const s of report.segments) {
    assert.ok(s.startS >= prevEnd && s.endS > s.startS && s.endS <= report.durationS + 1e-6, JSON.stringify(s));
    prevEnd = s.endS;
  }
});

test('speech inside a video (AAC audio track) is found too', async (t) => {
  const video = await scratch.videoWithAudio(await scratch.speechWav(SENTENCE));
  const report = await vad.analyseFile(video);
  t.diagnostic(`speech ratio in MP4 ${report.ratio.toFixed(3)}`);
  assert.ok(report.ratio >= MIN_SPEECH_RATIO, `ratio ${report.ratio}`);
});

test('a tone, white noise and silence have a low speech ratio and are tagged no-speech', async (t) => {
  const files = {
    tone: await scratch.toneWav(440, 4),
    noise: await scratch.noiseWav(4),
    silence: await scratch.silenceWav(4),
  };
  for (const [name, file] of Object.entries(files)) {
    const report = await vad.analyseFile(file);
    t.diagnostic(`${name} ratio ${report.ratio.toFixed(3)}`);
    assert.equal(report.hasAudio, true);
    assert.ok(report.ratio <= MAX_NON_SPEECH_RATIO, `${name} ratio ${report.ratio}`);
    assert.equal(speechTag(report), 'no-speech', name);
  }
});

test('speech followed by silence puts the segments where the speech is', async () => {
  const speech = await vad.analyseFile(await scratch.speechWav('Hello there, welcome to my channel.'));
  const lastEnd = speech.segments.at(-1)?.endS ?? 0;
  assert.ok(lastEnd <= speech.durationS);
  assert.ok(speech.segments[0] && speech.segments[0].startS < 0.5, 'speech starts near the beginning');
});

test('a video without an audio track has ratio 0 and is tagged no-audio', async () => {
  const report = await vad.analyseFile(await scratch.silentVideo(1));
  assert.deepEqual(report, { hasAudio: false, durationS: 0, ratio: 0, segments: [] });
  assert.equal(speechTag(report), 'no-audio');
});

test('an unreadable file is E_MEDIA_INVALID', async () => {
  await assert.rejects(vad.analyseFile('/nonexistent/video.mp4'), { code: 'E_MEDIA_INVALID' });
});

test('hysteresis: a dip between the two thresholds does not end a segment; short bursts are dropped', () => {
  const step = WINDOW / SAMPLE_RATE;
  const probs = new Float32Array(100);
  for (let i = 10; i < 40; i++) probs[i] = 0.9;
  for (let i = 20; i < 25; i++) probs[i] = 0.4; // below threshold, above negThreshold
  for (let i = 70; i < 72; i++) probs[i] = 0.9; // 64 ms burst
  const segs = speechSegments(probs, 100 * step, DEFAULT_VAD_SETTINGS);
  assert.equal(segs.length, 1);
  const [seg] = segs;
  assert.ok(seg);
  assert.ok(Math.abs(seg.startS - (10 * step - DEFAULT_VAD_SETTINGS.padS)) < 0.002, `start ${seg.startS}`);
  assert.ok(Math.abs(seg.endS - (40 * step + DEFAULT_VAD_SETTINGS.padS)) < 0.002, `end ${seg.endS}`);
});
