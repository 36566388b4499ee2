import type { Architecture, ModelConfigBase, TrainBatch } from '../model/architecture.js';
import type { ParamLayout } from '../model/params.js';
import { FlatAdam, clipFactor, type AdamState } from './adam.js';
import { GraphRunner, type BatchResult, type RunTimes } from './graph-runner.js';

export type { BatchResult };

export interface StepOptions {
  learningRate: number;
  /** Global L2 norm of the mean-loss gradient; 0 turns clipping off. */
  clipNorm: number;
  /**
   * Dropout, label smoothing and the attention penalty as configured (default); false for the plain
   * weighted log-likelihood of self-critical training, whose captions were sampled without dropout.
   */
  regularize?: boolean;
}

export interface StepResult extends BatchResult {
  /** Norm of the mean-loss gradient before clipping. */
  gradNorm: number;
  /** Wall time of the step's parts (ms): inputs, the graph (forward + backward), Adam. */
  ms: RunTimes & { update: number };
}

export interface EngineOptions {
  /** Captions per step (the rows the graphs are built for; smaller batches are padded). */
  rows: number;
  /** onnxruntime intra-op threads (the cores to use). */
  threads: number;
  /** Let idle onnxruntime threads spin between ops (see SessionOptions). */
  spinning?: boolean;
}

/**
 * Training on onnxruntime: a step is one call of the training graph of the batch's length (forward,
 * loss and backward together, on `threads` cores), then Adam over the flat weights (a WebAssembly SIMD
 * kernel), in place. Splitting rows across worker threads with one-thread sessions instead measured
 * slower on two cores (the gradients' sum and the copies cost more than the sessions' sync).
 */
export class TrainingEngine {
  readonly params: Float32Array;
  private readonly runner: GraphRunner;
  private readonly adam: FlatAdam;
  private readonly grads: Float32Array;

  constructor(
    arch: Architecture,
    config: ModelConfigBase,
    private readonly layout: ParamLayout,
    options: EngineOptions,
  ) {
    this.adam = new FlatAdam(layout.total);
    // The weights live in the optimizer's (WebAssembly) memory: Adam updates them in place.
    this.params = this.adam.params;
    this.grads = new Float32Array(layout.total);
    this.runner = new GraphRunner(arch, config, layout, options, this.params);
  }

  /** The summed loss and its gradient (not applied), dropout on: for tests and parity checks. */
  async gradients(batch: TrainBatch): Promise<BatchResult & { grads: Float32Array }> {
    const grads = new Float32Array(this.layout.total);
    const r = await this.runner.gradientsInto(batch, grads);
    return { lossSum: r.lossSum, tokens: r.tokens, grads };
  }

  /**
   * One training step: the summed gradient, scaled to the mean loss (by the target count) and
   * clipped, then Adam.
   */
  async step(batch: TrainBatch, options: StepOptions): Promise<StepResult> {
    const tokens = batch.targets.length;
    const scale = 1 / Math.max(1, tokens);
    const r = await this.runner.gradientsInto(batch, this.grads, options.regularize ?? true);
    const t0 = performance.now();
    const gradNorm = Math.sqrt(r.squares) * scale;
    const factor = clipFactor(gradNorm, scale, options.clipNorm);
    this.adam.update(this.params, 0, this.grads, factor, options.learningRate);
    this.adam.finishStep();
    return { lossSum: r.lossSum, tokens, gradNorm, ms: { ...r.ms, update: performance.now() - t0 } };
  }

  /** Loss only, without dropout or label smoothing (dev loss). */
  loss(batch: TrainBatch): Promise<BatchResult> {
    return this.runner.loss(batch);
  }

  getOptimizerState(): AdamState {
    return this.adam.getState();
  }

  setOptimizerState(state: AdamState): void {
    this.adam.setState(state);
  }

  close(): Promise<void> {
    return this.runner.close();
  }
}
