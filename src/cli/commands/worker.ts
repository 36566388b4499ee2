import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { openQueue, redact, redisUrl } from '../../queue/connection.js';
import { INT8_PRODUCTS, NO_INT8_PRODUCTS, type IntegerProductsFlags } from '../decoder-options.js';
import { nonNegativeInt, positiveInt, positiveNumber, runCommand } from '../run-command.js';
import { REDIS_OPTION } from './queue.js';

interface WorkerFlags extends IntegerProductsFlags {
  redis?: string;
  threads?: number;
  workers?: number;
  model?: string;
  encoder?: string;
  batch: number;
  beam: number;
  alternatives?: number;
  lockSeconds: number;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'caption the photos of the Redis queue (queue add) until stopped; run one per machine (a captioner thread per core) or one per core (--threads 1)',
    )
    .option(...REDIS_OPTION)
    .option(
      '--workers <n>',
      'captioner threads, each with its own copy of the model, captioning batches side by side (default: one per core; 1 with --threads)',
      positiveInt('--workers'),
    )
    .option(
      '--threads <n>',
      "onnxruntime threads of each captioner's encoder (default 1; --threads alone: one captioner, as before)",
      positiveInt('--threads'),
    )
    .option('--model <dir>', 'model folder (default: the bundled model)')
    .option('--encoder <name|path>', "encoder (default: the model's own)")
    .option(...INT8_PRODUCTS)
    .option(...NO_INT8_PRODUCTS)
    .option('--batch <n>', 'most photos captioned as one batch', positiveInt('--batch'), 16)
    .option('--beam <k>', 'beam width (1 = greedy)', positiveInt('--beam'), 3)
    .option(
      '--alternatives <n>',
      'next-best captions stored with each (default: beam - 1)',
      nonNegativeInt('--alternatives'),
    )
    .option(
      '--lock-seconds <s>',
      'how long a job stays locked to a worker that stopped (killed); its jobs are taken again after 1 to 1.5 times this',
      positiveNumber('--lock-seconds'),
      30,
    )
    .action(
      runCommand(async (flags: WorkerFlags) => {
        const url = redisUrl(flags.redis);
        const log = (line: string) => process.stderr.write(`captioner: ${line}\n`);
        // Alone, --threads keeps its old meaning: one captioner with that many onnxruntime threads (the
        // one-process-per-core deployments pass --threads 1).
        const threads = flags.threads ?? 1;
        const workers = flags.workers ?? (flags.threads === undefined ? availableParallelism() : 1);
        // Is Redis there? Said now rather than after the model has loaded.
        await (await openQueue(url)).close();
        // Imported here, so other commands start without the model stack.
        const [{ loadCaptionerPool }, { startCaptionWorker }] = await Promise.all([
          import('../../pipeline/captioner-pool.js'),
          import('../../queue/worker.js'),
        ]);
        log('loading the model…');
        // Captioner threads: onnxruntime-node computes on the thread that calls it, so one captioner,
        // however many onnxruntime threads it has, runs one batch at a time.
        const captioner = await loadCaptionerPool({
          model: flags.model,
          encoder: flags.encoder,
          integerProducts: flags.int8Products,
          workers,
          threads,
        });
        const worker = await startCaptionWorker({
          redis: url,
          captioner,
          batchSize: flags.batch,
          // A batch for each captioner thread (the pool splits a batch between idle ones).
          concurrency: workers,
          captionOptions: { beam: flags.beam, alternatives: flags.alternatives },
          lockMs: flags.lockSeconds * 1000,
          log,
        }).catch(async (error: unknown) => {
          await captioner.dispose();
          throw error;
        });
        log(
          `working for ${redact(url)}: ${captioner.card.name}, batches of ${flags.batch}, ${workers} captioner thread${workers === 1 ? '' : 's'} (SIGTERM or Ctrl+C to stop)`,
        );

        // A line every 10 s while photos are being done.
        const started = Date.now();
        let reported = 0;
        const report = () => {
          const { completed, failed, retrying } = worker.counts;
          if (completed + failed + retrying === reported) return;
          reported = completed + failed + retrying;
          const rate = completed / Math.max(1, (Date.now() - started) / 1000);
          log(
            `captioned ${completed} photos (${rate.toFixed(1)}/s), ${failed} failed, ${retrying} tries to retry`,
          );
        };
        const ticker = setInterval(report, 10_000);

        await new Promise<void>((resolve, reject) => {
          let stopping = false;
          const onSignal = (signal: NodeJS.Signals) => {
            if (stopping) {
              log(
                `${signal} again: exiting now (the jobs in hand go back to the queue when their locks expire)`,
              );
              process.exit(130);
            }
            stopping = true;
            log(`${signal}: finishing the ${worker.inHand} photos in hand, then stopping`);
            worker
              .close()
              .then(() => captioner.dispose())
              .then(() => {
                process.off('SIGINT', onSignal);
                process.off('SIGTERM', onSignal);
                resolve();
              }, reject);
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
        });
        clearInterval(ticker);
        report();
        log('stopped');
      }),
    );
}
