/**
 * Worker task `probe`: reads a video's metadata with ffprobe and refuses what the
 * pipeline must not process (not a video, corrupt, truncated, too long).
 */
import { probeMedia, type MediaProbe } from '../media/ffmpeg.ts';
import { defineTask, type TaskContext } from '../task-protocol.ts';

export interface ProbeTaskInput {
  file: string;
  /** VIDEO_MAX_SECONDS; longer videos fail with E_MEDIA_TOO_LONG. */
  maxDurationS?: number;
  ffprobePath?: string;
}

export type ProbeTaskOutput = MediaProbe;

export function probe(input: ProbeTaskInput, ctx?: Partial<TaskContext>): Promise<MediaProbe> {
  return probeMedia(input.file, { ffprobePath: input.ffprobePath, maxDurationS: input.maxDurationS, signal: ctx?.signal });
}

export default defineTask<ProbeTaskInput, ProbeTaskOutput>((input, ctx) => probe(input, ctx));
