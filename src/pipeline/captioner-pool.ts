import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CaptionerError } from '../util/errors.js';
import {
  CAPTION_CHUNK,
  type Captioner,
  type CaptionOptions,
  type CaptionResult,
  type ImageInput,
  type ModelCard,
} from './captioner-types.js';
import type { LoadCaptionerOptions } from './load-captioner.js';
import { deserializeError, type PoolReply, type PoolRequest, type SerializedError } from './pool-messages.js';

export interface CaptionerPoolOptions extends LoadCaptionerOptions {
  /** Worker threads, each with its own captioner (default: one per core). */
  workers?: number;
  /** onnxruntime threads of each worker's encoder (default 1: the workers share the cores). */
  threads?: number;
}

type Result = CaptionResult | { error: Error };

interface Call {
  request: PoolRequest;
  transfer: ArrayBuffer[];
  resolve: (results: Result[]) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  call?: Call;
  /** False from the worker's exit until its replacement is ready. */
  alive: boolean;
}

/**
 * Captioners in worker threads behind one Captioner. onnxruntime-node runs a session on the thread
 * that calls it, so a single captioner captions on one thread at a time, however many requests
 * wait: the pool gives each core its own captioner, and splits a batch between the idle ones.
 * Results and errors are those of the captioner (per image in captionMany, CaptionerError codes kept).
 */
export async function loadCaptionerPool(options: CaptionerPoolOptions = {}): Promise<Captioner> {
  const { workers = availableParallelism(), ...rest } = options;
  if (!Number.isInteger(workers) || workers < 1)
    throw new CaptionerError('BAD_CONFIG', `workers must be a positive integer, got ${workers}`);
  const loadOptions: LoadCaptionerOptions = { ...rest, threads: rest.threads ?? 1 };
  const started = Array.from({ length: workers }, () => startWorker(loadOptions));
  const ready = await Promise.allSettled(started);
  const failed = ready.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(ready.map((r) => (r.status === 'fulfilled' ? r.value.worker.terminate() : undefined)));
    throw (failed as PromiseRejectedResult).reason;
  }
  const slots = ready.map((r) => (r as PromiseFulfilledResult<{ worker: Worker; card: ModelCard }>).value);
  return new CaptionerPool(
    slots[0].card,
    slots.map((s) => s.worker),
    loadOptions,
  );
}

/** A worker thread with a loaded captioner, once it says it is ready. */
function startWorker(options: LoadCaptionerOptions): Promise<{ worker: Worker; card: ModelCard }> {
  const worker = spawnWorker(options);
  return new Promise((resolve, reject) => {
    const onMessage = (reply: PoolReply) => {
      if ('ready' in reply) resolve({ worker, card: reply.ready });
      else if ('failed' in reply) {
        void worker.terminate();
        reject(deserializeError(reply.failed));
      }
    };
    worker.once('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new CaptionerError('WORKER_FAILED', `a captioner thread exited (code ${code}) while loading`)),
    );
  });
}

function spawnWorker(options: LoadCaptionerOptions): Worker {
  const file = new URL(import.meta.url.replace(/captioner-pool\.(\w+)$/, 'captioner-worker.$1'));
  if (!file.pathname.endsWith('.ts')) return new Worker(file, { workerData: options });
  // Running from the TypeScript sources (tests, tsx): a worker does not inherit the loader, so it
  // registers tsx's before importing the worker module.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(boot, { eval: true, workerData: options });
}

class CaptionerPool implements Captioner {
  private readonly slots: Slot[];
  private readonly queue: Call[] = [];
  private nextId = 1;
  private disposed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    readonly card: ModelCard,
    workers: Worker[],
    private readonly options: LoadCaptionerOptions,
  ) {
    this.slots = workers.map((worker) => this.watch({ worker, alive: true }));
  }

  async caption(input: ImageInput, options: CaptionOptions = {}): Promise<CaptionResult> {
    const [result] = await this.captionMany([input], options);
    if ('error' in result) throw result.error;
    return result;
  }

  /** Split between the workers (a share each, at most the captioner's chunk), answered in the inputs' order. */
  async captionMany(inputs: ImageInput[], options: CaptionOptions = {}): Promise<Result[]> {
    if (this.disposed) throw new CaptionerError('DISPOSED', 'this captioner has been disposed');
    if (this.slots.length === 0)
      throw new CaptionerError('WORKER_FAILED', 'no captioner thread is left (see the errors before)');
    const size = Math.min(CAPTION_CHUNK, Math.max(1, Math.ceil(inputs.length / this.slots.length)));
    const parts: Promise<Result[]>[] = [];
    for (let start = 0; start < inputs.length; start += size)
      parts.push(this.submit(inputs.slice(start, start + size), options));
    const work = Promise.all(parts);
    this.inFlight.add(work);
    try {
      return (await work).flat();
    } finally {
      this.inFlight.delete(work);
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.allSettled([...this.inFlight]);
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private submit(inputs: ImageInput[], options: CaptionOptions): Promise<Result[]> {
    // Bytes are copied into buffers of their own, moved (not cloned) to the worker.
    const transfer: ArrayBuffer[] = [];
    const images = inputs.map((input) => {
      if (typeof input === 'string') return input;
      const copy = new Uint8Array(input);
      transfer.push(copy.buffer);
      return copy;
    });
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, inputs: images, options }, transfer, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (!slot.alive || slot.call || this.queue.length === 0) continue;
      slot.call = this.queue.shift()!;
      slot.worker.postMessage(slot.call.request, slot.call.transfer);
    }
  }

  /** Answers the slot's calls; a worker that dies fails its call and is replaced. */
  private watch(slot: Slot): Slot {
    slot.worker.on('message', (reply: PoolReply) => {
      const call = slot.call;
      if (!call || !('id' in reply) || reply.id !== call.request.id) return;
      slot.call = undefined;
      if ('error' in reply) call.reject(deserializeError(reply.error));
      else
        call.resolve(
          reply.results.map((r) =>
            'error' in r ? { error: deserializeError(r.error as SerializedError) } : r,
          ),
        );
      this.dispatch();
    });
    slot.worker.on('error', () => undefined); // an uncaught error in the worker: its exit follows
    slot.worker.once('exit', (code) => {
      slot.alive = false;
      if (this.disposed) return;
      slot.call?.reject(
        new CaptionerError(
          'WORKER_FAILED',
          `the captioner thread for these images stopped (exit code ${code})`,
        ),
      );
      slot.call = undefined;
      void startWorker(this.options).then(
        ({ worker }) => {
          if (this.disposed) return void worker.terminate();
          slot.worker = worker;
          slot.alive = true;
          this.watch(slot);
          this.dispatch();
        },
        (error: Error) => {
          // It loaded before; should it no longer, the other workers go on, and with none left the
          // waiting calls fail rather than wait forever.
          this.slots.splice(this.slots.indexOf(slot), 1);
          if (this.slots.length === 0) for (const call of this.queue.splice(0)) call.reject(error);
        },
      );
    });
    return slot;
  }
}
