import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { BulkJobOptions } from 'bullmq';
import type { CaptionAlternative } from '../pipeline/captioner-types.js';
import { CaptionerError } from '../util/errors.js';

/** A job: one photo, as a path every worker can read or an http(s) URL. */
export interface PhotoJobData {
  image: string;
}

/** What a worker stores with a captioned photo. */
export interface PhotoResult {
  caption: string;
  alternatives: CaptionAlternative[];
  /** The model card's name. */
  model: string;
}

/** One line of `queue results`. */
export type ResultLine =
  ({ image: string } & PhotoResult) | { image: string; error: { code: string; message: string } };

/** Tries per photo: the first and four retries, 2, 4, 8 and 16 s apart (transient failures only). */
export const ATTEMPTS = 5;
export const BACKOFF_MS = 2_000;

export function isUrl(image: string): boolean {
  return /^https?:\/\//i.test(image);
}

/** The photo as a job names it: a URL normalised by the URL parser, a path made absolute. */
export function photoName(image: string): string {
  if (!isUrl(image)) return resolve(image);
  try {
    return new URL(image).href;
  } catch {
    throw new CaptionerError('BAD_URL', `not a valid URL: ${image}`);
  }
}

/**
 * A photo's job id: the same photo added twice is one job (BullMQ ignores an add whose id exists), so
 * it is captioned once. A hash of its name: ids must not contain ':' or be plain integers.
 */
export function photoJobId(name: string): string {
  return 'p' + createHash('sha256').update(name).digest('hex').slice(0, 32);
}

export interface RetryOptions {
  /** Tries per photo, the first included. */
  attempts?: number;
  /** Wait before the first retry; each next one waits twice as long. */
  backoffMs?: number;
}

export function photoJob(
  name: string,
  { attempts = ATTEMPTS, backoffMs = BACKOFF_MS }: RetryOptions = {},
): { name: string; data: PhotoJobData; opts: BulkJobOptions } {
  return {
    name: 'caption',
    data: { image: name },
    opts: {
      jobId: photoJobId(name),
      attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      // Kept until `queue results --clean`: the results live with the jobs.
      removeOnComplete: false,
      removeOnFail: false,
    },
  };
}

/**
 * A failure as BullMQ keeps it (the error's message, `failedReason`): "CODE: message", so that the
 * exported line can give the code apart.
 */
export function failureReason(code: string, message: string): string {
  return `${code}: ${message}`;
}

export function parseFailureReason(reason: string | undefined): { code: string; message: string } {
  const match = /^([A-Z][A-Z0-9_]*): ([\s\S]*)$/.exec(reason ?? '');
  if (match) return { code: match[1], message: match[2] };
  // BullMQ's own reasons, e.g. a job whose workers died with it too often.
  if (/stalled/i.test(reason ?? '')) return { code: 'STALLED', message: reason! };
  return { code: 'FAILED', message: reason || 'failed for an unknown reason' };
}
