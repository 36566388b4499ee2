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
  /**
   * Longest expected wait for a turn, in ms, from the measured rate: past it, OVERLOADED as past
   * `maxQueued` (a count cannot say how long a queue takes on a slower machine or with larger photos).
   * A full batch may always wait.
   */
  maxQueueWaitMs?: number;
}

/** A place in the queue held for a request whose body is still being read. */
export interface Place {
  /** Gives the place back (the request failed before it was queued); a no-op once used or released. */
  release(): void;
}

/**
 * The server's bounded queue in front of the captioner. Under load, requests that wait together (with the
 * same options) go through captionMany as one batch, which runs the encoder once for all of them; a
 * bad image in a batch fails alone. When `maxQueued` requests already wait, a new one is refused.
 *
 * A place can be reserved before the request's body is read (reserve), so that a body is read only when
 * the request will be queued: reserved places count as taken until used by caption() or released.
 */
export class CaptionScheduler {
  private running = 0;
  private readonly waiting: Job[] = [];
  private readonly reserved = new Set<Place>();
  /** Called whenever a place may have come free (a batch ended, a reserved place was given back). */
  onFree?: () => void;
  /** Images captioned per second while every batch slot is busy (moving average), once measured. */
  private rate?: number;

  constructor(
    private readonly captioner: Captioner,
    private readonly limits: SchedulerLimits,
  ) {}

  get stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /**
   * Whether a new request would be refused now: the free batch slots are taken and `maxQueued`
   * requests wait (or as many as take `maxQueueWaitMs` at the measured rate, but never fewer than a
   * batch: smaller batches would lower the rate, and the bound with it). Reserved places count as
   * requests that will arrive (to start a batch, or to wait).
   */
  get full(): boolean {
    const { concurrency, batchSize, maxQueued, maxQueueWaitMs } = this.limits;
    const ahead = this.waiting.length + this.reserved.size;
    const slots = (concurrency - this.running) * batchSize;
    const queue =
      this.rate === undefined || maxQueueWaitMs === undefined
        ? maxQueued
        : Math.min(maxQueued, Math.max(batchSize, (this.rate * maxQueueWaitMs) / 1000));
    return ahead >= slots + queue;
  }

  /** A place for a request about to be read, or undefined when full. */
  reserve(): Place | undefined {
    if (this.full) return undefined;
    const place: Place = {
      release: () => {
        if (this.reserved.delete(place)) this.onFree?.();
      },
    };
    this.reserved.add(place);
    return place;
  }

  /** Queues a caption; with a reserved place it is never refused (the place is used up). */
  caption(
    bytes: Buffer,
    options: CaptionOptions,
    place?: Place,
  ): Promise<{ result: CaptionResult; queueMs: number }> {
    if (!(place && this.reserved.delete(place)) && this.full) return Promise.reject(overloaded());
    return new Promise((resolve, reject) => {
      // Requests share a batch only when they decode alike (the batch runs with one set of options).
      const key = `${options.beam}/${options.alternatives}/${options.maxLength}/${options.blockTrigrams}/${options.badEndings}`;
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
      const busy = this.running === this.limits.concurrency;
      const startedAt = performance.now();
      void this.run(batch).finally(() => {
        // With every slot busy, `concurrency` batches like this one take this long together.
        if (busy)
          this.measure((batch.length * this.limits.concurrency * 1000) / (performance.now() - startedAt));
        this.running--;
        this.pump();
        this.onFree?.();
      });
    }
  }

  private measure(imagesPerSecond: number): void {
    this.rate = this.rate === undefined ? imagesPerSecond : 0.7 * this.rate + 0.3 * imagesPerSecond;
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

/**
 * The refusal of an overloaded server. Made without a stack trace: under overload it is made hundreds
 * of times a second, and capturing the stack was a visible share of the CPU the captions need.
 */
export function overloaded(): CaptionerError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CaptionerError(
      'OVERLOADED',
      'The server is busy captioning other photos. Try again in a moment.',
    );
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function shuttingDown(): CaptionerError {
  return new CaptionerError('SHUTTING_DOWN', 'The server is shutting down. Try again in a moment.');
}
