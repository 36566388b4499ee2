import type { RedisClients } from './connection.js';

export interface QueueStatus {
  /** Jobs waiting for a worker (including those waiting to be retried: `delayed`). */
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  /** Of `waiting`, the jobs waiting out a retry's backoff. */
  delayed: number;
  /** Workers connected now. */
  workers: number;
  /** Photos finished (captioned or failed) per second over the last minute. */
  ratePerSecond: number;
  /** Seconds until the queue is empty at that rate, if it is moving. */
  etaSeconds: number | null;
}

/** Over how long the rate is measured. */
const RATE_WINDOW_MS = 60_000;

/** The queue's counts, and its rate from the finish times of the last minute's jobs. */
export async function queueStatus({ redis, queue }: RedisClients): Promise<QueueStatus> {
  const [counts, workers, [seconds, micros]] = await Promise.all([
    queue.getJobCounts('wait', 'prioritized', 'delayed', 'active', 'completed', 'failed'),
    queue.getWorkersCount(),
    redis.time(),
  ]);
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const since = now - RATE_WINDOW_MS;
  // Finished jobs are sorted sets scored by finish time: count the last minute's, and find the first
  // of them, so that a run younger than a minute is not under-rated.
  const recent = await Promise.all(
    [queue.keys.completed, queue.keys.failed].map(async (key) => {
      const [count, first] = await Promise.all([
        redis.zcount(key, since, '+inf'),
        redis.zrangebyscore(key, since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1),
      ]);
      return { count, first: first.length === 2 ? Number(first[1]) : Infinity };
    }),
  );
  const finished = recent[0].count + recent[1].count;
  const windowMs = Math.max(
    5_000,
    Math.min(RATE_WINDOW_MS, now - Math.min(recent[0].first, recent[1].first)),
  );
  const ratePerSecond = finished === 0 ? 0 : finished / (windowMs / 1000);
  const waiting = counts.wait + counts.prioritized + counts.delayed;
  const left = waiting + counts.active;
  return {
    waiting,
    active: counts.active,
    completed: counts.completed,
    failed: counts.failed,
    delayed: counts.delayed,
    workers,
    ratePerSecond: Math.round(ratePerSecond * 100) / 100,
    etaSeconds: left === 0 ? 0 : ratePerSecond > 0 ? Math.round(left / ratePerSecond) : null,
  };
}

/** The status as one line of text. */
export function formatStatus(s: QueueStatus): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const retrying = s.delayed > 0 ? ` (${n(s.delayed)} to retry)` : '';
  const eta =
    s.etaSeconds === null
      ? ''
      : s.etaSeconds === 0
        ? '; done'
        : `; about ${formatDuration(s.etaSeconds)} left`;
  return (
    `waiting ${n(s.waiting)}${retrying}, active ${n(s.active)}, completed ${n(s.completed)}, failed ${n(s.failed)}` +
    ` | ${s.ratePerSecond.toFixed(1)} photos/s, ${s.workers} worker${s.workers === 1 ? '' : 's'}${eta}`
  );
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
