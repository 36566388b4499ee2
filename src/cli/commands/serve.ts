import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { availableParallelism } from 'node:os';
import { DEFAULT_LIMITS, envNumber, resolveLimits } from '../../serve/limits.js';
import { buildServer } from '../../serve/server.js';
import { closeOnSignals } from '../../serve/shutdown.js';
import { CaptionerError, errnoCode } from '../../util/errors.js';
import { INT8_PRODUCTS, NO_INT8_PRODUCTS, type IntegerProductsFlags } from '../decoder-options.js';
import { positiveInt, positiveNumber, runCommand } from '../run-command.js';

interface ServeFlags extends IntegerProductsFlags {
  port?: number;
  host?: string;
  model?: string;
  encoder?: string;
  maxUploadMb?: number;
  maxMegapixels?: number;
  concurrency?: number;
  queue?: number;
  batch?: number;
  workers?: number;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve the web page and the HTTP API (POST /api/caption, GET /api/model, GET /healthz)')
    .option('--port <n>', 'port (env PORT; default 3000)', portArg)
    .option('--host <host>', 'address to listen on, 0.0.0.0 for all (env HOST; default localhost)')
    .option('--model <dir>', 'model folder (default: the bundled model)')
    .option('--encoder <name|path>', "image encoder (default: the model's own)")
    .option(...INT8_PRODUCTS)
    .option(...NO_INT8_PRODUCTS)
    .option(
      '--max-upload-mb <n>',
      'largest upload in MB (env CAPTIONER_MAX_UPLOAD_MB; default 10)',
      positiveNumber('--max-upload-mb'),
    )
    .option(
      '--max-megapixels <n>',
      'largest image in megapixels (env CAPTIONER_MAX_MEGAPIXELS; default 50)',
      positiveNumber('--max-megapixels'),
    )
    .option(
      '--concurrency <n>',
      'batches computed at once (env CAPTIONER_CONCURRENCY; default: the captioner threads, at least 2)',
      positiveNumber('--concurrency'),
    )
    .option(
      '--queue <n>',
      'requests that may wait; more get 503 (env CAPTIONER_QUEUE; default 32)',
      positiveNumber('--queue'),
    )
    .option(
      '--batch <n>',
      'most waiting photos captioned as one batch (env CAPTIONER_BATCH; default 8)',
      positiveNumber('--batch'),
    )
    .option(
      '--workers <n>',
      'captioner threads, each with its own copy of the model (env CAPTIONER_WORKERS; default: one per core)',
      positiveInt('--workers'),
    )
    .action(
      runCommand(async (flags: ServeFlags) => {
        // Check the settings before the (slow) model load.
        const port = flags.port ?? envPort();
        const host = flags.host ?? (process.env.HOST || 'localhost');
        const workers =
          flags.workers ?? envNumber(process.env, 'CAPTIONER_WORKERS') ?? availableParallelism();
        const limits = resolveLimits(
          {
            maxUploadBytes: flags.maxUploadMb && Math.round(flags.maxUploadMb * 1024 * 1024),
            maxPixels: flags.maxMegapixels && Math.round(flags.maxMegapixels * 1_000_000),
            concurrency: flags.concurrency,
            maxQueued: flags.queue,
            batchSize: flags.batch,
          },
          process.env,
          // Unless set, a batch at a time for every captioner thread (at least the default 2).
          { concurrency: Math.max(DEFAULT_LIMITS.concurrency, workers) },
        );
        const log = (line: string) => process.stderr.write(`captioner: ${line}\n`);
        log('loading the model…');
        // Imported here, so other commands start without the model stack. The captioners run in worker
        // threads: onnxruntime-node computes on the calling thread, so one captioner would use one core
        // at a time and hold up the event loop (health checks, refusals) while it computes.
        const { loadCaptionerPool } = await import('../../pipeline/captioner-pool.js');
        const captioner = await loadCaptionerPool({
          model: flags.model,
          encoder: flags.encoder,
          integerProducts: flags.int8Products,
          workers,
        });
        // The page captions on the device with the same model (its bundle at /model/).
        const app = buildServer({
          captioner,
          limits,
          bundle: { model: flags.model, encoder: flags.encoder },
          buildBundleAtStart: true,
        });
        const closed = closeOnSignals(app, captioner, { log });
        try {
          await app.listen({ port, host });
        } catch (error) {
          await captioner.dispose();
          if (errnoCode(error) === 'EADDRINUSE') {
            throw new CaptionerError(
              'PORT_IN_USE',
              `port ${port} is already in use: stop the other server or pick another with --port or PORT`,
            );
          }
          throw error;
        }
        const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
        const url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${(app.server.address() as { port: number }).port}/`;
        log(`serving ${captioner.card.name} at ${url} (Ctrl+C to stop)`);
        await closed;
      }),
    );
}

function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`not a port number: "${value}"`);
  return n;
}

function envPort(): number {
  const raw = process.env.PORT || '3000';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new CaptionerError('BAD_CONFIG', `PORT must be a port number, got "${raw}"`);
  }
  return n;
}
