import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ModelConfigBase, TrainBatch } from '../model/architecture.js';
import { getArchitecture } from '../model/architectures.js';
import { ParamLayout } from '../model/params.js';
import { initTf } from '../model/tf-backend.js';
import { splitBatch } from './batches.js';
import { computeGradients, computeLoss, type BatchResult } from './gradients.js';

/**
 * Computes the summed loss and its gradient for a batch. The local engine does it in this thread; the
 * worker engine splits the batch's rows across worker threads that read the weights from shared
 * memory and write their gradients to shared memory, where they are summed: the same maths on every
 * core (only float summation order differs).
 */
export interface GradientEngine {
  readonly threads: number;
  /** The weights; the trainer updates them in place between calls. */
  readonly params: Float32Array;
  /** Loss sum and token count of the batch; the summed gradient lands in `grads`. */
  gradients(batch: TrainBatch, grads: Float32Array): Promise<BatchResult>;
  /** Loss only, without dropout. */
  loss(batch: TrainBatch): Promise<BatchResult>;
  close(): Promise<void>;
}

export async function createEngine(config: ModelConfigBase, threads: number): Promise<GradientEngine> {
  return threads <= 1 ? createLocalEngine(config) : createWorkerEngine(config, threads);
}

export async function createLocalEngine(config: ModelConfigBase): Promise<GradientEngine> {
  await initTf();
  const arch = getArchitecture(config.arch);
  const layout = new ParamLayout(arch.params(config));
  const params = new Float32Array(layout.total);
  return {
    threads: 1,
    params,
    gradients: async (batch, grads) => computeGradients(arch, config, layout, params, batch, grads),
    loss: async (batch) => computeLoss(arch, config, layout, params, batch),
    close: async () => {},
  };
}

type Reply = { id: number; lossSum: number; tokens: number } | { id: number; error: string };

export async function createWorkerEngine(config: ModelConfigBase, threads: number): Promise<GradientEngine> {
  const arch = getArchitecture(config.arch);
  const layout = new ParamLayout(arch.params(config));
  const params = new Float32Array(new SharedArrayBuffer(layout.total * 4));
  const gradBuffers = Array.from(
    { length: threads },
    () => new Float32Array(new SharedArrayBuffer(layout.total * 4)),
  );
  // Run the worker as .ts under tsx (tests, dev) and as .js once built.
  const self = fileURLToPath(import.meta.url);
  const script = new URL(`./grad-worker${extname(self)}`, import.meta.url);
  // Under tsx (tests, dev) the worker is TypeScript: register tsx's loader inside it first.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(script.href)}); })`;
  const workers = gradBuffers.map((grads) =>
    extname(self) === '.ts'
      ? new Worker(bootstrap, { eval: true, workerData: { config, params, grads } })
      : new Worker(script, { workerData: { config, params, grads } }),
  );
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void }>();
  const failAll = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  for (const w of workers) {
    w.on('message', (reply: Reply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if ('error' in reply) p.reject(new Error(`gradient worker: ${reply.error}`));
      else p.resolve({ lossSum: reply.lossSum, tokens: reply.tokens });
    });
    w.on('error', (error) => failAll(error));
    w.on('exit', (code) => code !== 0 && failAll(new Error(`gradient worker exited with code ${code}`)));
  }
  const call = (w: Worker, kind: 'grad' | 'loss', batch: TrainBatch) =>
    new Promise<BatchResult>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      w.postMessage({ id, kind, batch });
    });
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('online', () => resolve());
          w.once('error', reject);
        }),
    ),
  );
  const parts = (batch: TrainBatch) => splitBatch(batch, threads, config.featureDim);
  return {
    threads,
    params,
    async gradients(batch, grads) {
      const pieces = parts(batch);
      const results = await Promise.all(pieces.map((piece, i) => call(workers[i], 'grad', piece)));
      grads.set(gradBuffers[0]);
      for (let w = 1; w < pieces.length; w++) {
        const g = gradBuffers[w];
        for (let i = 0; i < grads.length; i++) grads[i] += g[i];
      }
      return sum(results);
    },
    async loss(batch) {
      const pieces = parts(batch);
      return sum(await Promise.all(pieces.map((piece, i) => call(workers[i], 'loss', piece))));
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

function sum(results: BatchResult[]): BatchResult {
  return results.reduce((a, r) => ({ lossSum: a.lossSum + r.lossSum, tokens: a.tokens + r.tokens }), {
    lossSum: 0,
    tokens: 0,
  });
}
