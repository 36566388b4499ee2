import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';
import { QUEUE_NAME, type RedisClients } from './connection.js';
import { parseFailureReason, type PhotoJobData, type PhotoResult, type ResultLine } from './jobs.js';

/**
 * Where an export stands, kept beside the output (`<out>.cursor`, written after each chunk is on
 * disk): the output's committed length, and for each finished set the finish time reached and the
 * jobs exported at exactly that time.
 */
interface ExportCursor {
  version: 1;
  queue: string;
  bytes: number;
  completed: SetCursor;
  failed: SetCursor;
}

interface SetCursor {
  score: number;
  ids: string[];
}

export interface ExportOptions {
  /** The JSON Lines file to append to. */
  out: string;
  /** Remove the exported jobs from Redis once their lines are on disk. */
  clean?: boolean;
  /** Jobs read per round trip. */
  chunkSize?: number;
  onChunk?: (lines: number) => void;
}

export interface ExportSummary {
  captions: number;
  errors: number;
  /** Jobs removed from Redis (--clean). */
  removed: number;
  /** Finished within the last seconds while workers are busy: left for the next run (see SETTLE_MS). */
  leftForLater: number;
}

/**
 * Finish times come from the workers' clocks, and a job's finish may land in Redis a moment after a
 * later one's: while jobs are active, only jobs finished more than this long ago are exported, so a
 * late one cannot fall behind the cursor. With no job active, everything finished is exported.
 */
export const SETTLE_MS = 5_000;

const cursorPath = (out: string) => `${out}.cursor`;

/**
 * Appends every finished photo not yet exported to `out`, one JSON line each: `{ image, caption,
 * alternatives, model }` or `{ image, error: { code, message } }`. Resumable: finished jobs are read
 * in finish-time order, and the cursor file says how far the output holds them, so a run cut short
 * (or a later run, once more photos are done) goes on where the last one stopped, without a
 * duplicate; lines written after the last committed chunk are cut off and written again.
 */
export async function exportResults(clients: RedisClients, options: ExportOptions): Promise<ExportSummary> {
  const { redis, queue } = clients;
  const chunkSize = options.chunkSize ?? 1_000;
  const cursor = await openCursor(options.out);
  const summary: ExportSummary = { captions: 0, errors: 0, removed: 0, leftForLater: 0 };
  if (options.clean) summary.removed += await removeExported(clients, cursor);
  await mkdir(dirname(options.out), { recursive: true });
  const file = await open(options.out, 'a');
  try {
    for (const set of ['completed', 'failed'] as const) {
      const key = queue.keys[set];
      for (;;) {
        const upTo = await exportableUntil(clients);
        const at = cursor[set];
        const page = await redis.zrangebyscore(
          key,
          at.score,
          upTo,
          'WITHSCORES',
          'LIMIT',
          0,
          chunkSize + at.ids.length,
        );
        const seen = new Set(at.ids);
        const entries: { id: string; score: number }[] = [];
        for (let i = 0; i < page.length; i += 2) {
          const score = Number(page[i + 1]);
          if (!(score === at.score && seen.has(page[i]))) entries.push({ id: page[i], score });
        }
        if (entries.length === 0) {
          if (upTo !== '+inf') summary.leftForLater += await redis.zcount(key, `(${upTo}`, '+inf');
          break;
        }
        const lines = await readLines(clients, entries, set);
        const text = lines.map((line) => JSON.stringify(line) + '\n').join('');
        await file.write(text);
        await file.sync();
        cursor.bytes += Buffer.byteLength(text);
        const last = entries.at(-1)!.score;
        const sameTime = entries.filter((e) => e.score === last).map((e) => e.id);
        cursor[set] = { score: last, ids: last === at.score ? [...at.ids, ...sameTime] : sameTime };
        await writeJsonAtomic(cursorPath(options.out), cursor);
        const errors = lines.filter((line) => 'error' in line).length;
        summary.errors += errors;
        summary.captions += lines.length - errors;
        options.onChunk?.(lines.length);
        if (options.clean)
          summary.removed += await removeJobs(
            clients,
            entries.map((e) => e.id),
          );
      }
    }
  } finally {
    await file.close();
  }
  return summary;
}

/** The latest finish time safe to export now (see SETTLE_MS). */
async function exportableUntil({ redis, queue }: RedisClients): Promise<number | '+inf'> {
  const [active, [seconds]] = await Promise.all([queue.getActiveCount(), redis.time()]);
  return active === 0 ? '+inf' : Number(seconds) * 1000 - SETTLE_MS;
}

async function readLines(
  { redis, queue }: RedisClients,
  entries: { id: string }[],
  set: 'completed' | 'failed',
): Promise<ResultLine[]> {
  const read = redis.pipeline();
  for (const { id } of entries) read.hmget(queue.toKey(id), 'data', 'returnvalue', 'failedReason');
  const replies = (await read.exec()) ?? [];
  const lines: ResultLine[] = [];
  replies.forEach(([error, fields], i) => {
    if (error) throw error;
    const [data, returnvalue, failedReason] = fields as (string | null)[];
    if (data === null) return; // removed meanwhile
    const { image } = JSON.parse(data) as PhotoJobData;
    if (set === 'completed') {
      const result = JSON.parse(returnvalue ?? 'null') as PhotoResult | null;
      if (!result)
        throw new CaptionerError('QUEUE_INVALID', `job ${entries[i].id} is completed but has no result`);
      lines.push({ image, caption: result.caption, alternatives: result.alternatives, model: result.model });
    } else {
      lines.push({ image, error: parseFailureReason(failedReason ?? undefined) });
    }
  });
  return lines;
}

/**
 * The cursor of an export to `out`: a new one when `out` does not exist; else the saved one, with
 * `out` cut back to the length the cursor committed (lines of a chunk that was not finished).
 */
async function openCursor(out: string): Promise<ExportCursor> {
  const fresh: ExportCursor = {
    version: 1,
    queue: QUEUE_NAME,
    bytes: 0,
    completed: { score: 0, ids: [] },
    failed: { score: 0, ids: [] },
  };
  if (!existsSync(out)) {
    await rm(cursorPath(out), { force: true });
    return fresh;
  }
  const { size } = await stat(out);
  if (!existsSync(cursorPath(out))) {
    if (size === 0) return fresh;
    throw new CaptionerError(
      'OUTPUT_EXISTS',
      `${out} exists and was not written by queue results (no ${cursorPath(out)}): choose another --out, or remove it`,
    );
  }
  const cursor = JSON.parse(await readFile(cursorPath(out), 'utf8')) as ExportCursor;
  if (cursor.version !== 1 || cursor.queue !== QUEUE_NAME)
    throw new CaptionerError('OUTPUT_EXISTS', `${cursorPath(out)} is not a cursor of this queue`);
  if (size < cursor.bytes)
    throw new CaptionerError(
      'OUTPUT_CHANGED',
      `${out} is shorter than its export recorded (${size} < ${cursor.bytes} bytes): it was changed; export to a new file`,
    );
  if (size > cursor.bytes) await truncate(out, cursor.bytes);
  return cursor;
}

/** Jobs the cursor has passed but a run cut short did not remove (--clean). */
async function removeExported(clients: RedisClients, cursor: ExportCursor): Promise<number> {
  let removed = 0;
  for (const set of ['completed', 'failed'] as const) {
    const { score, ids } = cursor[set];
    if (score === 0) continue;
    for (;;) {
      const older = await clients.redis.zrangebyscore(
        clients.queue.keys[set],
        0,
        `(${score}`,
        'LIMIT',
        0,
        1_000,
      );
      const n = older.length === 0 ? 0 : await removeJobs(clients, older);
      if (n === 0) break;
      removed += n;
    }
    removed += await removeJobs(clients, ids);
  }
  return removed;
}

async function removeJobs({ queue }: RedisClients, ids: string[]): Promise<number> {
  const removed = await Promise.all(ids.map((id) => queue.remove(id)));
  return removed.filter((n) => n === 1).length;
}
