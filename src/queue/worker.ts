import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Captioner, CaptionOptions } from '../pipeline/captioner-types.js';
import { CaptionScheduler } from '../serve/caption-scheduler.js';
import { isCaptionerError } from '../util/errors.js';
import { openQueue, QUEUE_NAME } from './connection.js';
import { DEFAULT_PHOTO_LIMITS, loadPhoto, TRANSIENT_CODES, type PhotoLimits } from './fetch-photo.js';
import { failureReason, type PhotoJobData, type PhotoResult } from './jobs.js';

export interface CaptionWorkerOptions {
  /** Redis URL. */
  redis: string;
  /** The captioner to run; the worker does not dispose it. */
  captioner: Captioner;
  /** Most photos in one batch through the encoder and beam search. Default 16. */
  batchSize?: number;
  /** Batches computed at the same time. Default 1. */
  concurrency?: number;
  /** Beam width and alternatives of every caption. */
  captionOptions?: CaptionOptions;
  photoLimits?: PhotoLimits;
  /**
   * How long a job stays locked to a worker that stops renewing the lock (killed, frozen): its jobs go
   * back to the queue 1 to 1.5 times this after it died. Default 30 s.
   */
  lockMs?: number;
  /** A line for the operator (connection lost and back). */
  log?: (line: string) => void;
}

export interface CaptionWorker {
  /** Photos captioned, failed for good, and tries that failed for now (retried later), since the start. */
  readonly counts: { completed: number; failed: number; retrying: number };
  /** Jobs in hand: being fetched, waiting for a batch, or in one. */
  readonly inHand: number;
  /** Stops taking jobs, finishes the ones in hand, disconnects. */
  close(): Promise<void>;
}

/**
 * A queue worker: takes photo jobs from Redis, loads each photo (a file, or a URL with size and time
 * limits) and checks its bytes as the server checks uploads, captions the photos that wait together
 * as one batch (as the server does), and stores each result with its job. A bad photo fails at once
 * with its reason; a transient failure (a download that timed out) is retried with exponential backoff.
 *
 * BullMQ keeps a lock on every job in hand, renewed while the worker lives: the jobs of a worker that
 * is killed go back to the queue once their locks expire (stalled-job recovery), and a job finished
 * by a worker that lost its lock is not stored twice.
 */
export async function startCaptionWorker(options: CaptionWorkerOptions): Promise<CaptionWorker> {
  const { captioner, log = () => {} } = options;
  const batchSize = options.batchSize ?? 16;
  const concurrency = options.concurrency ?? 1;
  const lockMs = options.lockMs ?? 30_000;
  const limits = options.photoLimits ?? DEFAULT_PHOTO_LIMITS;
  const captionOptions = options.captionOptions ?? {};
  // The jobs in hand feed the batches; none is refused (BullMQ bounds how many are taken).
  const scheduler = new CaptionScheduler(captioner, { concurrency, batchSize, maxQueued: Infinity });
  const { redis, queue } = await openQueue(options.redis, { persistent: true });

  const counts = { completed: 0, failed: 0, retrying: 0 };
  let inHand = 0;
  const processor = async (job: Job<PhotoJobData, PhotoResult>): Promise<PhotoResult> => {
    inHand++;
    try {
      const bytes = await loadPhoto(job.data.image, limits);
      const { result } = await scheduler.caption(bytes, captionOptions);
      return { caption: result.caption, alternatives: result.alternatives, model: captioner.card.name };
    } catch (error) {
      throw jobError(error);
    } finally {
      inHand--;
    }
  };

  const worker = new Worker<PhotoJobData, PhotoResult>(QUEUE_NAME, processor, {
    connection: redis,
    // One batch in the encoder, the next one gathering: enough jobs in hand for both.
    concurrency: batchSize * (concurrency + 1),
    lockDuration: lockMs,
    stalledInterval: Math.max(1_000, Math.round(lockMs / 2)),
    // A job whose worker died twice under it fails (a photo that crashes workers must not kill them all).
    maxStalledCount: 2,
  });
  worker.on('completed', () => counts.completed++);
  // A try that will be retried leaves the job unfinished.
  worker.on('failed', (job) => (job?.finishedOn === undefined && job ? counts.retrying++ : counts.failed++));

  // Redis restarts: ioredis reconnects on its own; say so once, not at every retry.
  let lost = false;
  redis.on('reconnecting', () => {
    if (!lost) log('Redis: connection lost; reconnecting…');
    lost = true;
  });
  redis.on('ready', () => {
    if (lost) log('Redis: connected again');
    lost = false;
  });
  // Other errors (e.g. a job whose lock was lost while Redis was away), each message once a minute.
  const said = new Map<string, number>();
  worker.on('error', (error) => {
    const last = said.get(error.message) ?? -Infinity;
    if (lost || Date.now() - last < 60_000) return;
    said.set(error.message, Date.now());
    log(`worker: ${error.message}`);
  });

  await worker.waitUntilReady();
  return {
    counts,
    get inHand() {
      return inHand;
    },
    async close() {
      await worker.close();
      await queue.close();
      redis.disconnect();
    },
  };
}

/** How a failure is stored: retried (a plain Error) or failed at once (UnrecoverableError). */
function jobError(error: unknown): Error {
  if (isCaptionerError(error)) {
    const reason = failureReason(error.code, error.message);
    return TRANSIENT_CODES.has(error.code) ? new Error(reason) : new UnrecoverableError(reason);
  }
  // A bug or a runtime failure: retried, and failed for good after the last attempt.
  return new Error(failureReason('INTERNAL', (error as Error)?.message ?? String(error)));
}
