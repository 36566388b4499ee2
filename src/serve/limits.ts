import { CaptionerError } from '../util/errors.js';

/** What one server accepts and how much work it holds at once. */
export interface ServeLimits {
  /** Largest upload, in bytes (the whole body, or the image part of a form). */
  maxUploadBytes: number;
  /** Largest image, in pixels (width × height), checked from the header before decoding. */
  maxPixels: number;
  /** Captions computed at the same time. */
  concurrency: number;
  /** Requests waiting for a turn; past that the server answers 503. */
  maxQueued: number;
  /** Longest expected wait for a turn (ms, at the measured captions per second); past it, as past maxQueued. */
  maxQueueWaitMs: number;
  /** Most waiting requests captioned together as one batch (captionMany); 1 turns batching off. */
  batchSize: number;
  /** Widest beam a client may ask for. */
  maxBeam: number;
  /** Seconds a client is told to wait (Retry-After) when the queue is full. */
  retryAfterSeconds: number;
  /** Uploads read at the same time; past that, requests wait with their bodies unread. */
  maxReading: number;
  /**
   * How long a request that finds the queue full waits, its body unread, for a place before the 503
   * (0: at once). Bounds the refusals to one per connection per wait, so clients that retry at once
   * cannot take the CPU from the captions.
   */
  admissionWaitMs: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  maxUploadBytes: 10 * 1024 * 1024,
  // 50 megapixels: any phone photo, but not a decompression bomb (a 100k×100k PNG is a few kB).
  maxPixels: 50_000_000,
  concurrency: 2,
  maxQueued: 32,
  // A request's time in the server is its wait at the door + in the queue + its batch (~0.5 s for 8
  // 1.5-megapixel photos on 2 cores): 1 s + 250 ms + that keeps the accepted p99 under 2 s at 256
  // connections (2 s + 500 ms gave 2.2 s), at the price of one refusal per waiting connection per second.
  maxQueueWaitMs: 250,
  batchSize: 8,
  maxBeam: 10,
  retryAfterSeconds: 1,
  maxReading: 16,
  admissionWaitMs: 1000,
};

/**
 * Limits from the defaults (DEFAULT_LIMITS, then the caller's `defaults`), then the environment
 * (CAPTIONER_MAX_UPLOAD_MB, …), then explicit options.
 */
export function resolveLimits(
  options: Partial<ServeLimits> = {},
  env: NodeJS.ProcessEnv = process.env,
  defaults: Partial<ServeLimits> = {},
): ServeLimits {
  const fromEnv: Partial<ServeLimits> = {};
  const mb = envNumber(env, 'CAPTIONER_MAX_UPLOAD_MB');
  if (mb !== undefined) fromEnv.maxUploadBytes = Math.round(mb * 1024 * 1024);
  const mp = envNumber(env, 'CAPTIONER_MAX_MEGAPIXELS');
  if (mp !== undefined) fromEnv.maxPixels = Math.round(mp * 1_000_000);
  const concurrency = envNumber(env, 'CAPTIONER_CONCURRENCY');
  if (concurrency !== undefined) fromEnv.concurrency = concurrency;
  const queue = envNumber(env, 'CAPTIONER_QUEUE');
  if (queue !== undefined) fromEnv.maxQueued = queue;
  const batch = envNumber(env, 'CAPTIONER_BATCH');
  if (batch !== undefined) fromEnv.batchSize = batch;
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const limits = { ...DEFAULT_LIMITS, ...defaults, ...fromEnv, ...defined };
  for (const key of [
    'maxUploadBytes',
    'maxPixels',
    'concurrency',
    'batchSize',
    'maxBeam',
    'maxReading',
  ] as const) {
    if (!(limits[key] >= 1)) throw new CaptionerError('BAD_CONFIG', `${key} must be at least 1`);
  }
  if (!(limits.maxQueued >= 0)) throw new CaptionerError('BAD_CONFIG', 'maxQueued must be 0 or more');
  for (const key of ['admissionWaitMs', 'maxQueueWaitMs'] as const) {
    if (!(limits[key] >= 0)) throw new CaptionerError('BAD_CONFIG', `${key} must be 0 or more`);
  }
  limits.concurrency = Math.floor(limits.concurrency);
  limits.maxQueued = Math.floor(limits.maxQueued);
  limits.batchSize = Math.floor(limits.batchSize);
  limits.maxReading = Math.floor(limits.maxReading);
  return limits;
}

/** A number from the environment (undefined when unset), refusing one that is not a number ≥ 0. */
export function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new CaptionerError('BAD_CONFIG', `${name} must be a positive number, got "${raw}"`);
  }
  return n;
}
