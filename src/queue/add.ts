import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { expandImagePaths } from '../cli/list-images.js';
import type { RedisClients } from './connection.js';
import { isUrl, photoJob, photoName, type RetryOptions } from './jobs.js';

/** Files with these extensions, named on the command line, list photos (one path or URL a line). */
export const LIST_EXTENSIONS: ReadonlySet<string> = new Set(['.txt', '.lst', '.list']);

/** Where photos come from: a list file (read as it is added, so millions of lines fit) or names. */
type Source = { list: string; lines: number } | { names: string[] };

export interface PhotoSources {
  /** How many photos (lines of list files counted, blank and # lines excepted). */
  count: number;
  names(): AsyncIterable<string>;
}

/**
 * The photos of `queue add`'s arguments: http(s) URLs as they are, list files line by line (paths
 * relative to the working folder, or URLs), image files, and folders walked for images. Paths are made
 * absolute: every worker must be able to read them (a shared or mounted folder).
 */
export async function photoSources(args: string[]): Promise<PhotoSources> {
  const sources: Source[] = [];
  for (const arg of args) {
    if (isUrl(arg)) sources.push({ names: [photoName(arg)] });
    else if (LIST_EXTENSIONS.has(extname(arg).toLowerCase()))
      sources.push({ list: arg, lines: await countListLines(arg) });
    else sources.push({ names: await expandImagePaths([arg]) });
  }
  return {
    count: sources.reduce((n, s) => n + ('list' in s ? s.lines : s.names.length), 0),
    async *names() {
      for (const source of sources) {
        if ('names' in source) yield* source.names;
        else for await (const line of listLines(source.list)) yield photoName(line);
      }
    },
  };
}

async function* listLines(path: string): AsyncIterable<string> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = raw.trim();
    if (line && !line.startsWith('#')) yield line;
  }
}

async function countListLines(path: string): Promise<number> {
  let n = 0;
  for await (const _ of listLines(path)) n++;
  return n;
}

export interface AddSummary {
  /** Photos named. */
  photos: number;
  /** Jobs created. */
  added: number;
  /** Photos that already had a job (added before, or twice in this list): not captioned again. */
  alreadyQueued: number;
}

/**
 * One job per photo, added in chunks (one round trip each). A photo that already has a job, whatever
 * its state, is not added again: its job id is a hash of its name.
 */
export async function addPhotos(
  { redis, queue }: RedisClients,
  names: AsyncIterable<string> | Iterable<string>,
  {
    chunkSize = 1_000,
    onChunk,
    retry,
  }: { chunkSize?: number; onChunk?: (photos: number) => void; retry?: RetryOptions } = {},
): Promise<AddSummary> {
  const summary: AddSummary = { photos: 0, added: 0, alreadyQueued: 0 };
  let chunk: string[] = [];
  const flush = async () => {
    const jobs = chunk.map((name) => photoJob(name, retry));
    chunk = [];
    // Which exist already (for the summary only: the add itself skips them atomically).
    const exists = redis.pipeline();
    for (const job of jobs) exists.exists(queue.toKey(job.opts.jobId!));
    const found = (await exists.exec()) ?? [];
    const known = new Set(jobs.filter((_, i) => found[i]?.[1] === 1).map((job) => job.opts.jobId));
    await queue.addBulk(jobs);
    const fresh = new Set(jobs.map((job) => job.opts.jobId).filter((id) => !known.has(id)));
    summary.photos += jobs.length;
    summary.added += fresh.size;
    summary.alreadyQueued += jobs.length - fresh.size;
    onChunk?.(jobs.length);
  };
  for await (const name of names) {
    chunk.push(name);
    if (chunk.length >= chunkSize) await flush();
  }
  if (chunk.length > 0) await flush();
  return summary;
}
