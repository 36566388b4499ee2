import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ModelConfigBase, TrainBatch } from '../model/architecture.js';
import { getArchitecture } from '../model/architectures.js';
import { ParamLayout } from '../model/params.js';
import { initTf } from '../model/tf-backend.js';
import { splitBatch } from './batches.js';
import { computeGradients, computeLoss, type BatchResult } from './gradients.js';
import { clipFactor, FlatAdam, scaleAndClip, type AdamState } from './optimizer.js';

export interface StepOptions {
  learningRate: number;
  /** Global L2 norm of the mean-loss gradient; 0 turns clipping off. */
  clipNorm: number;
}

export interface StepResult extends BatchResult {
  /** Norm of the mean-loss gradient before clipping. */
  gradNorm: number;
  /** Wall time of the step's parts (ms): the gradient, then the reduction, clipping and Adam. */
  ms: { gradients: number; update: number };
}

/**
 * Computes the summed loss and its gradient for a batch, and takes optimizer steps. The local engine
 * does it in this thread; the worker engine splits the batch's rows across worker threads that read
 * the weights from shared memory and write their gradients to shared memory. The serial tail of a
 * step is split too: each worker sums, clips and applies Adam to its own share of the flat weights.
 * The same maths on every core (only float summation order differs).
 */
export interface GradientEngine {
  readonly threads: number;
  /** The weights; set them before the first step (steps update them in place). */
  readonly params: Float32Array;
  /**
   * One training step: summed gradient, scaled to the mean loss and clipped, then Adam. The Adam
   * state lives in the engine and starts from the current `params` on first use.
   */
  step(batch: TrainBatch, options: StepOptions): Promise<StepResult>;
  getOptimizerState(): Promise<AdamState>;
  setOptimizerState(state: AdamState): Promise<void>;
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
  const grads = new Float32Array(layout.total);
  let adam: FlatAdam | undefined;
  const optimizer = () => (adam ??= new FlatAdam(params, 1e-3));
  return {
    threads: 1,
    params,
    async step(batch, options) {
      const t0 = performance.now();
      const r = computeGradients(arch, config, layout, params, batch, grads);
      const t1 = performance.now();
      const gradNorm = scaleAndClip(grads, r.tokens, options.clipNorm);
      const opt = optimizer();
      opt.learningRate = options.learningRate;
      opt.step(grads);
      return { ...r, gradNorm, ms: { gradients: t1 - t0, update: performance.now() - t1 } };
    },
    getOptimizerState: () => optimizer().getState(),
    setOptimizerState: (state) => optimizer().setState(state),
    loss: async (batch) => computeLoss(arch, config, layout, params, batch),
    close: async () => adam?.dispose(),
  };
}

/** Messages to a gradient worker (see grad-worker.ts). */
export type WorkerRequest = { id: number } & (
  | { kind: 'grad' | 'loss'; batch: TrainBatch }
  /** Sum every worker's gradient over this worker's share; reply with Σ (g/tokens)² of the share. */
  | { kind: 'reduce'; tokens: number }
  /** Scale the share by `factor` and apply Adam to it. */
  | { kind: 'apply'; factor: number; learningRate: number }
  | { kind: 'getState' }
  | { kind: 'setState'; state: AdamState }
);

export type WorkerReply = { id: number } & (
  | { error: string }
  | { lossSum: number; tokens: number }
  | { squares: number }
  | { state: AdamState }
  | { done: true }
);

export interface WorkerData {
  config: ModelConfigBase;
  params: Float32Array;
  /** Every worker's gradient buffer; this worker writes `grads[index]`. */
  grads: Float32Array[];
  index: number;
  /** This worker's share [begin, end) of the flat weights for the reduction and Adam. */
  begin: number;
  end: number;
}

export async function createWorkerEngine(config: ModelConfigBase, threads: number): Promise<GradientEngine> {
  const arch = getArchitecture(config.arch);
  const layout = new ParamLayout(arch.params(config));
  const params = new Float32Array(new SharedArrayBuffer(layout.total * 4));
  const gradBuffers = Array.from(
    { length: threads },
    () => new Float32Array(new SharedArrayBuffer(layout.total * 4)),
  );
  // Shares of the flat vector, on 16-float boundaries so no two workers touch one cache line.
  const bounds = Array.from({ length: threads + 1 }, (_, w) =>
    w === threads ? layout.total : Math.min(layout.total, Math.round((layout.total * w) / threads / 16) * 16),
  );
  // Run the worker as .ts under tsx (tests, dev) and as .js once built.
  const self = fileURLToPath(import.meta.url);
  const script = new URL(`./grad-worker${extname(self)}`, import.meta.url);
  // Under tsx (tests, dev) the worker is TypeScript: register tsx's loader inside it first.
  const bootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => { api.register(); return import(${JSON.stringify(script.href)}); })`;
  const workers = gradBuffers.map((_, index) => {
    const workerData: WorkerData = {
      config,
      params,
      grads: gradBuffers,
      index,
      begin: bounds[index],
      end: bounds[index + 1],
    };
    return extname(self) === '.ts'
      ? new Worker(bootstrap, { eval: true, workerData })
      : new Worker(script, { workerData });
  });
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  const failAll = (error: Error) => {
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  for (const w of workers) {
    w.on('message', (reply: WorkerReply) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if ('error' in reply) p.reject(new Error(`gradient worker: ${reply.error}`));
      else p.resolve(reply);
    });
    w.on('error', (error) => failAll(error));
    w.on('exit', (code) => code !== 0 && failAll(new Error(`gradient worker exited with code ${code}`)));
  }
  type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;
  const call = <T extends WorkerReply>(w: Worker, request: Request) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (r: WorkerReply) => void, reject });
      w.postMessage({ ...request, id });
    });
  const all = <T extends WorkerReply>(request: (w: number) => Request) =>
    Promise.all(workers.map((w, i) => call<T>(w, request(i))));
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('online', () => resolve());
          w.once('error', reject);
        }),
    ),
  );
  type Result = WorkerReply & BatchResult;
  const batchwise = async (kind: 'grad' | 'loss', batch: TrainBatch) => {
    const pieces = splitBatch(batch, threads, config.featureDim);
    // Fewer rows than workers: the idle workers' gradient buffers must read as zero.
    for (let w = pieces.length; w < threads; w++) if (kind === 'grad') gradBuffers[w].fill(0);
    return sum(await Promise.all(pieces.map((piece, i) => call<Result>(workers[i], { kind, batch: piece }))));
  };
  return {
    threads,
    params,
    async step(batch, options) {
      const t0 = performance.now();
      const r = await batchwise('grad', batch);
      const t1 = performance.now();
      const parts = await all<WorkerReply & { squares: number }>(() => ({
        kind: 'reduce',
        tokens: r.tokens,
      }));
      const gradNorm = Math.sqrt(parts.reduce((a, p) => a + p.squares, 0));
      const factor = clipFactor(gradNorm, 1 / Math.max(1, r.tokens), options.clipNorm);
      await all(() => ({ kind: 'apply', factor, learningRate: options.learningRate }));
      return { ...r, gradNorm, ms: { gradients: t1 - t0, update: performance.now() - t1 } };
    },
    async getOptimizerState() {
      const parts = await all<WorkerReply & { state: AdamState }>(() => ({ kind: 'getState' }));
      const m = new Float32Array(layout.total);
      const v = new Float32Array(layout.total);
      parts.forEach(({ state }, w) => {
        m.set(state.m, bounds[w]);
        v.set(state.v, bounds[w]);
      });
      const { iterations, accBeta1, accBeta2 } = parts[0].state;
      return { iterations, accBeta1, accBeta2, m, v };
    },
    async setOptimizerState(state) {
      await all((w) => ({
        kind: 'setState',
        state: {
          ...state,
          m: state.m.slice(bounds[w], bounds[w + 1]),
          v: state.v.slice(bounds[w], bounds[w + 1]),
        },
      }));
    },
    async loss(batch) {
      return batchwise('loss', batch);
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
