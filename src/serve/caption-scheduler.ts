import { performance } from 'node:perf_hooks';
import type { Captioner, CaptionOptions, CaptionResult } from '../pipeline/captioner-types.js';
import { CaptionerError } from '../util/errors.js';

interface Job {
  bytes: Buffer;
  options: CaptionOptions;
  key: string;
  queuedAt: number;
  resolve: (value: { result: CaptionResult; queueMs: number }) => void;
  reject: (error: unknown) => void;
}

export interface SchedulerLimits {
  /** Batches computed at the same time. */
  concurrency: number;
  /** Requests waiting for a turn; past that, OVERLOADED at once. */
  maxQueued: number;
  /** Most images in one batch (captionMany); 1 captions one image at a time. */
  batchSize: number;
}

/**
 * The server's bounded queue in front of the captioner. Under load, requests that wait together (with the
 * same options) go through captionMany as one batch, which runs the encoder once for all of them; a
 * bad image in a batch fails alone. When `maxQueued` requests already wait, a new one is refused.
 */
export class CaptionScheduler {
  private running = 0;
  private readonly waiting: Job[] = [];

  constructor(
    private readonly captioner: Captioner,
    private readonly limits: SchedulerLimits,
  ) {}

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Whether a new request would be refused now (checked before reading its body). */
  get full(): boolean {
    return this.running >= this.limits.concurrency && this.waiting.length >= this.limits.maxQueued;
  }

  caption(bytes: Buffer, options: CaptionOptions): Promise<{ result: CaptionResult; queueMs: number }> {
    if (this.full) return Promise.reject(overloaded());
    return new Promise((resolve, reject) => {
      const key = `${options.beam}/${options.alternatives}/${options.maxLength}`;
      this.waiting.push({ bytes, options, key, queuedAt: performance.now(), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.limits.concurrency && this.waiting.length > 0) {
      const first = this.waiting.shift()!;
      const batch = [first];
      for (let i = 0; i < this.waiting.length && batch.length < this.limits.batchSize;) {
        if (this.waiting[i].key === first.key) batch.push(...this.waiting.splice(i, 1));
        else i++;
      }
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(batch: Job[]): Promise<void> {
    const startedAt = performance.now();
    const queueMs = (job: Job) => Math.round((startedAt - job.queuedAt) * 100) / 100;
    try {
      if (batch.length === 1) {
        const [job] = batch;
        job.resolve({ result: await this.captioner.caption(job.bytes, job.options), queueMs: queueMs(job) });
        return;
      }
      const results = await this.captioner.captionMany(
        batch.map((job) => job.bytes),
        batch[0].options,
      );
      batch.forEach((job, i) => {
        const outcome = results[i];
        if (!outcome)
          job.reject(new Error(`captionMany returned ${results.length} results for ${batch.length}`));
        else if ('error' in outcome) job.reject(outcome.error);
        else job.resolve({ result: outcome, queueMs: queueMs(job) });
      });
    } catch (error) {
      for (const job of batch) job.reject(error);
    }
  }
}

export function overloaded(): CaptionerError {
  return new CaptionerError(
    'OVERLOADED',
    'The server is busy captioning other photos. Try again in a moment.',
  );
}
