import type { Command } from 'commander';
import { addPhotos, photoSources } from '../../queue/add.js';
import { openQueue, redact, redisUrl, type RedisClients } from '../../queue/connection.js';
import { exportResults, SETTLE_MS } from '../../queue/results.js';
import { formatStatus, queueStatus } from '../../queue/status.js';
import { createProgress } from '../../util/progress.js';
import { positiveInt, positiveNumber, runCommand } from '../run-command.js';

interface RedisFlag {
  redis?: string;
}

export const REDIS_OPTION = [
  '--redis <url>',
  'Redis URL, e.g. redis://host:6379 (env CAPTIONER_REDIS_URL)',
] as const;

export function registerQueue(program: Command): void {
  const queue = program
    .command('queue')
    .description('a job queue in Redis for captioning millions of photos with many workers (see worker)');

  queue
    .command('add')
    .description('add one job per photo: files, folders (walked for images), list files, http(s) URLs')
    .argument(
      '<photos...>',
      'image files, folders, http(s) URLs, or list files (.txt, .lst, .list: one path or URL a line)',
    )
    .option(...REDIS_OPTION)
    .option('--chunk <n>', 'jobs added per round trip', positiveInt('--chunk'), 1_000)
    .action(
      runCommand(async (args: string[], flags: RedisFlag & { chunk: number }) => {
        const url = redisUrl(flags.redis);
        const sources = await photoSources(args);
        if (sources.count === 0) {
          process.stderr.write('captioner: no photos found\n');
          return 1;
        }
        return withQueue(url, async (clients) => {
          const progress = createProgress({
            label: 'queueing',
            total: sources.count,
            unit: 'photos',
            enabled: sources.count > flags.chunk,
          });
          const summary = await addPhotos(clients, sources.names(), {
            chunkSize: flags.chunk,
            onChunk: (n) => progress.tick(n),
          }).finally(() => progress.stop());
          process.stdout.write(
            `queued ${summary.photos} photos at ${redact(url)}: ${summary.added} new, ${summary.alreadyQueued} already in the queue (not captioned again)\n`,
          );
        });
      }),
    );

  queue
    .command('status')
    .description('job counts (waiting, active, completed, failed), workers and photos per second')
    .option(...REDIS_OPTION)
    .option('--json', 'print one JSON object (with --watch, one per line)')
    .option('--watch [seconds]', 'refresh until interrupted (every 2 s)', positiveNumber('--watch'))
    .action(
      runCommand(async (flags: RedisFlag & { json?: boolean; watch?: number | true }) => {
        const url = redisUrl(flags.redis);
        return withQueue(url, async (clients) => {
          const print = async () => {
            const status = await queueStatus(clients);
            return flags.json ? JSON.stringify(status) : formatStatus(status);
          };
          if (flags.watch === undefined) {
            process.stdout.write((await print()) + '\n');
            return;
          }
          const everyMs = (flags.watch === true ? 2 : flags.watch) * 1000;
          const live = process.stdout.isTTY && !flags.json;
          let stop = false;
          const interrupted = new Promise<void>((resolve) =>
            process.once('SIGINT', () => {
              stop = true;
              resolve();
            }),
          );
          while (!stop) {
            const line = await print();
            process.stdout.write(live ? `\r\x1b[2K${line}` : `${line}\n`);
            await Promise.race([interrupted, new Promise((r) => setTimeout(r, everyMs))]);
          }
          if (live) process.stdout.write('\n');
        });
      }),
    );

  queue
    .command('results')
    .description(
      'append every finished photo not exported yet to a JSON Lines file (resumable: run it again to go on)',
    )
    .option(...REDIS_OPTION)
    .requiredOption('--out <file>', 'the .jsonl file (its export cursor is kept beside it, in <file>.cursor)')
    .option('--clean', 'remove the exported jobs from Redis once their lines are on disk')
    .action(
      runCommand(async (flags: RedisFlag & { out: string; clean?: boolean }) => {
        const url = redisUrl(flags.redis);
        return withQueue(url, async (clients) => {
          let lines = 0;
          const summary = await exportResults(clients, {
            out: flags.out,
            clean: flags.clean,
            onChunk: (n) => {
              lines += n;
              if (process.stderr.isTTY) process.stderr.write(`\rexporting: ${lines} lines`);
            },
          });
          if (process.stderr.isTTY && lines > 0) process.stderr.write('\n');
          const removed = flags.clean ? `; removed ${summary.removed} jobs from Redis` : '';
          const later =
            summary.leftForLater > 0
              ? `; ${summary.leftForLater} finished in the last ${SETTLE_MS / 1000} s while workers are busy: run again for them`
              : '';
          process.stdout.write(
            `wrote ${summary.captions} captions and ${summary.errors} errors to ${flags.out}${removed}${later}\n`,
          );
        });
      }),
    );
}

async function withQueue(url: string, action: (clients: RedisClients) => Promise<void>): Promise<void> {
  const clients = await openQueue(url);
  try {
    await action(clients);
  } finally {
    await clients.close();
  }
}
