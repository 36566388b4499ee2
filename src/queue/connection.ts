import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { CaptionerError } from '../util/errors.js';
import type { PhotoJobData, PhotoResult } from './jobs.js';

/** The BullMQ queue every command and worker uses (keys `bull:captioner:*`). */
export const QUEUE_NAME = 'captioner';

export type PhotoQueue = Queue<PhotoJobData, PhotoResult>;

/** The Redis URL from --redis, else CAPTIONER_REDIS_URL. */
export function redisUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const url = flag ?? env.CAPTIONER_REDIS_URL;
  if (!url)
    throw new CaptionerError(
      'NO_REDIS',
      'say where Redis is: --redis redis://host:6379, or set CAPTIONER_REDIS_URL',
    );
  if (!/^rediss?:\/\//.test(url))
    throw new CaptionerError('BAD_CONFIG', `not a Redis URL: "${redact(url)}" (redis://host:port)`);
  return url;
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

export interface RedisClients {
  /** Commands (the queue's, and the exporter's own reads). */
  redis: Redis;
  queue: PhotoQueue;
  close(): Promise<void>;
}

/**
 * Connects to Redis and opens the photo queue. `persistent` (workers): commands wait through a Redis
 * restart and the connection is retried forever. Otherwise (the queue commands): a Redis that cannot
 * be reached is an error within a few seconds, not a hang.
 */
export async function openQueue(url: string, { persistent = false } = {}): Promise<RedisClients> {
  const redis = new Redis(url, {
    // BullMQ's blocking commands need requests that never give up (it requires null for workers).
    maxRetriesPerRequest: persistent ? null : 1,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => (persistent ? Math.min(attempt * 200, 2_000) : attempt > 3 ? null : 300),
    lazyConnect: true,
  });
  // Connection errors come back through the commands that fail (and workers log them themselves).
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => (lastError = error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    const why = (lastError ?? (error as Error)).message;
    throw new CaptionerError('REDIS_UNREACHABLE', `cannot reach Redis at ${redact(url)} (${why})`, {
      cause: error,
    });
  }
  const queue: PhotoQueue = new Queue(QUEUE_NAME, { connection: redis });
  queue.on('error', () => {}); // reported by the commands that fail
  return {
    redis,
    queue,
    async close() {
      await queue.close();
      redis.disconnect();
    },
  };
}
