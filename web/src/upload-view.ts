/**
 * Upload a video: a resumable tus upload (tus-js-client) with a progress bar, then the
 * media job (probe -> transcode -> tag) followed live through `job:progress` until the
 * video is ready, when its tags are shown and it is put first in the feed.
 */
import * as tus from 'tus-js-client';
import type { JobProgressPayload, Video } from '../../src/client/index.ts';
import type { AppContext } from './context.ts';
import { h, messageOf, tagLabel } from './dom.ts';

const UPLOADS_PATH = '/v1/uploads';
/** The final PATCH of an upload answers with the id of the media job it started. */
const JOB_ID_HEADER = 'Tremolo-Job-Id';

/** A media job as GET /v1/jobs/:id shows it (the part this view reads). */
interface JobRef {
  id: string;
  stage: string;
  percent: number;
  videoId?: string;
  error?: { code: string; message: string };
}

const FINAL = new Set(['ready', 'failed', 'cancelled']);
const STAGE_LABELS: Record<string, string> = {
  queued: 'Waiting for a worker',
  probing: 'Reading the file',
  transcoding: 'Transcoding',
  tagging: 'Finding tags',
  ready: 'Ready',
};

export class UploadView {
  readonly el: HTMLDialogElement;
  readonly #form: HTMLFormElement;
  readonly #file: HTMLInputElement;
  readonly #title: HTMLInputElement;
  readonly #description: HTMLInputElement;
  readonly #bar: HTMLProgressElement;
  readonly #status: HTMLElement;
  readonly #result: HTMLElement;
  #upload: tus.Upload | undefined;

  constructor(
    private readonly ctx: AppContext,
    private readonly onReady: (video: Video) => void,
  ) {
    this.#file = h('input', { type: 'file', name: 'file', accept: 'video/*', required: true, 'aria-label': 'Video file' });
    this.#title = h('input', { name: 'title', required: true, maxlength: 150, placeholder: 'Title', 'aria-label': 'Title' });
    this.#description = h('input', { name: 'description', maxlength: 2000, placeholder: 'Description (optional)', 'aria-label': 'Description' });
    this.#bar = h('progress', { max: 100, value: 0 });
    this.#status = h('p', { class: 'status', role: 'status' });
    this.#result = h('div', { class: 'result' });
    this.#form = h(
      'form',
      { method: 'dialog' },
      h('h2', {}, 'Upload a video'),
      this.#file,
      this.#title,
      this.#description,
      this.#bar,
      this.#status,
      this.#result,
      h('div', { class: 'row' }, h('button', { type: 'submit', name: 'start' }, 'Upload'), h('button', { type: 'button', class: 'secondary', onclick: () => this.close() }, 'Close')),
    );
    this.#form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.#start();
    });
    this.el = h('dialog', { class: 'upload' }, this.#form);
  }

  open(): void {
    this.el.showModal();
  }

  close(): void {
    this.el.close();
  }

  async #start(): Promise<void> {
    const file = this.#file.files?.[0];
    if (!file || !this.#form.reportValidity()) return;
    this.#form.classList.add('busy');
    this.#result.replaceChildren();
    try {
      const sent = await this.#send(file);
      this.#say('Uploaded; processing…', 0);
      // the last PATCH names the job it started; POST /v1/jobs finds (or starts) it otherwise
      const jobId = sent.jobId ?? (await this.ctx.http.request<JobRef>('POST', '/v1/jobs', { uploadId: sent.uploadId })).id;
      const video = await this.#follow(jobId);
      this.#showReady(video);
      this.onReady(video);
      this.#form.reset();
    } catch (err) {
      this.#say(`Failed: ${messageOf(err)}`);
    } finally {
      this.#form.classList.remove('busy');
    }
  }

  /** The resumable upload; title and description travel in its metadata. */
  #send(file: File): Promise<{ uploadId: string; jobId: string | undefined }> {
    const description = this.#description.value.trim();
    return new Promise((resolve, reject) => {
      const upload = new tus.Upload(file, {
        endpoint: new URL(UPLOADS_PATH, location.href).href,
        headers: { authorization: `Bearer ${this.ctx.http.token ?? ''}` },
        metadata: {
          filename: file.name,
          filetype: file.type || 'application/octet-stream',
          title: this.#title.value.trim(),
          ...(description ? { description } : {}),
        },
        chunkSize: 8 * 1024 * 1024,
        retryDelays: [0, 1000, 3000, 5000],
        // an interrupted upload of the same file resumes where it stopped (its URL is kept in localStorage)
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onProgress: (sentBytes, total) => this.#say(`Uploading… ${Math.floor((100 * sentBytes) / total)}%`, (100 * sentBytes) / total),
        onError: (err) => reject(uploadError(err)),
        onSuccess: ({ lastResponse }) =>
          resolve({
            uploadId: decodeURIComponent(new URL(upload.url ?? '', location.href).pathname.split('/').pop() ?? ''),
            jobId: lastResponse.getHeader(JOB_ID_HEADER) || undefined,
          }),
      });
      this.#upload = upload;
      void upload.findPreviousUploads().then((previous) => {
        const last = previous[0];
        if (last) upload.resumeFromPreviousUpload(last);
        upload.start();
      });
    });
  }

  /** Follows the job live; GET /v1/jobs/:id covers progress made before the socket heard of it. */
  #follow(jobId: string): Promise<Video> {
    const { live, http } = this.ctx;
    return new Promise((resolve, reject) => {
      let done = false;
      const onJob = (p: JobProgressPayload | JobRef) => {
        const id = 'jobId' in p ? p.jobId : p.id;
        if (done || id !== jobId) return;
        this.el.dataset.stage = p.stage;
        this.#say(`${STAGE_LABELS[p.stage] ?? p.stage}… ${Math.round(p.percent)}%`, p.percent);
        if (!FINAL.has(p.stage)) return;
        done = true;
        live.off('job', onJob);
        live.off('reconnected', poll);
        if (p.stage === 'ready' && p.videoId) http.getVideo(p.videoId).then(resolve, reject);
        else reject(new Error(p.error?.message ?? `the job ended ${p.stage}`));
      };
      const poll = () => void http.request<JobRef>('GET', `/v1/jobs/${jobId}`).then(onJob, () => {});
      live.on('job', onJob);
      live.on('reconnected', poll);
      poll();
    });
  }

  #showReady(video: Video): void {
    const tags = video.tagging?.tags ?? [];
    this.#say('Ready', 100);
    this.#result.replaceChildren(
      h('p', {}, h('strong', {}, video.title), ' is live.'),
      tags.length ? h('ul', { class: 'tags' }, ...tags.map((t) => h('li', {}, tagLabel(t)))) : h('p', { class: 'muted' }, 'No tags found.'),
    );
  }

  #say(text: string, percent?: number): void {
    this.#status.textContent = text;
    if (percent !== undefined) this.#bar.value = percent;
  }

  /** Cancels a running upload (the dialog closed with the page). */
  abort(): void {
    void this.#upload?.abort();
  }
}

/** The server's catalog message when tus passed the response through, else tus's own. */
function uploadError(err: Error): Error {
  const body = (err as Error & { originalResponse?: { getBody(): string } | null }).originalResponse?.getBody();
  try {
    const parsed = JSON.parse(body ?? '') as { error?: { message?: string } };
    if (parsed.error?.message) return new Error(parsed.error.message);
  } catch {
    // not JSON: keep tus's message
  }
  return err;
}
