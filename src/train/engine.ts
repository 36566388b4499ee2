import type { Architecture, ModelConfigBase, TrainBatch } from '../model/architecture.js';
import type { ParamLayout } from '../model/params.js';
import { Session, floats, type Tensor } from '../runtime/onnx.js';
import { FlatAdam, clipFactor, type AdamState } from './adam.js';
import { drawMasks } from './dropout-masks.js';
import { buildTrainGraph, TRAIN_IO, type TrainGraph } from './train-graph.js';

export interface StepOptions {
  learningRate: number;
  /** Global L2 norm of the mean-loss gradient; 0 turns clipping off. */
  clipNorm: number;
}

export interface BatchResult {
  /** Summed cross-entropy (nats) over the batch's target tokens (weighted, when the batch has weights). */
  lossSum: number;
  tokens: number;
}

export interface StepResult extends BatchResult {
  /** Norm of the mean-loss gradient before clipping. */
  gradNorm: number;
  /** Wall time of the step's parts (ms): inputs, the graph (forward + backward), Adam. */
  ms: { inputs: number; graph: number; update: number };
}

export interface EngineOptions {
  /** Rows every graph is built for (the batch size); smaller batches are padded. */
  rows: number;
  /** onnxruntime intra-op threads. */
  threads: number;
  /** Let idle threads spin between ops (see SessionOptions). */
  spinning?: boolean;
}

interface Compiled {
  graph: TrainGraph;
  session: Session;
}

/**
 * Training on onnxruntime: a step is one call of the training graph of the batch's length (forward,
 * loss and backward together; graphs are built per length on first use and kept), then Adam over the
 * flat weights in TypeScript. The weights stay in one Float32Array that the graphs read in place.
 */
export class TrainingEngine {
  readonly params: Float32Array;
  private readonly adam: FlatAdam;
  private readonly graphs = new Map<string, Promise<Compiled>>();
  private readonly weightFeeds: Record<string, Tensor>;
  private readonly ones = new Map<number, Float32Array>();

  constructor(
    private readonly arch: Architecture,
    private readonly config: ModelConfigBase,
    private readonly layout: ParamLayout,
    private readonly options: EngineOptions,
  ) {
    this.params = new Float32Array(layout.total);
    this.adam = new FlatAdam(layout.total);
    this.weightFeeds = Object.fromEntries(
      layout.specs.map((s) => [s.name, { data: layout.view(this.params, s.name), dims: s.shape }]),
    );
  }

  /** The graph for batches of this many rows and steps, built and loaded once. */
  private compiled(rows: number, steps: number): Promise<Compiled> {
    const key = `${rows}x${steps}`;
    let c = this.graphs.get(key);
    if (!c) {
      c = (async () => {
        const graph = buildTrainGraph(this.arch, this.config, this.layout, rows, steps);
        const session = await Session.create(graph.model, {
          threads: this.options.threads,
          spinning: this.options.spinning,
        });
        return { graph, session };
      })();
      this.graphs.set(key, c);
    }
    return c;
  }

  private async run(batch: TrainBatch, training: boolean, outputs: string[]) {
    const t0 = performance.now();
    const rows = Math.max(this.options.rows, batch.rows);
    const { steps } = batch;
    const { graph, session } = await this.compiled(rows, steps);
    const feeds = { ...this.weightFeeds, ...this.batchFeeds(batch, rows, graph, training) };
    const t1 = performance.now();
    const out = await session.run(feeds, outputs);
    return { out, ms: { inputs: t1 - t0, graph: performance.now() - t1 } };
  }

  /** The batch padded to the graph's rows (padding rows have no targets), masks, ε and token weights. */
  private batchFeeds(batch: TrainBatch, rows: number, graph: TrainGraph, training: boolean) {
    const { steps, rows: b } = batch;
    const dim = this.config.featureDim;
    let tokens = batch.inputs;
    let positions = batch.positions;
    let features = batch.features;
    if (b !== rows) {
      tokens = new Int32Array(steps * rows);
      for (let t = 0; t < steps; t++) tokens.set(batch.inputs.subarray(t * b, (t + 1) * b), t * rows);
      positions = batch.positions.map((p) => Math.floor(p / b) * rows + (p % b));
      features = new Float32Array(rows * dim);
      features.set(batch.features);
    }
    const n = batch.targets.length;
    const feeds: Record<string, Tensor> = {
      [TRAIN_IO.features]: { data: features, dims: [rows, dim] },
      [TRAIN_IO.tokens]: { data: tokens, dims: [steps * rows] },
      [TRAIN_IO.positions]: { data: positions, dims: [n] },
      [TRAIN_IO.targets]: { data: batch.targets, dims: [n] },
      [TRAIN_IO.weights]: { data: batch.weights ?? this.onesOf(n), dims: [n] },
      [TRAIN_IO.epsilon]: {
        data: Float32Array.of(training ? (this.config.labelSmoothing ?? 0) : 0),
        dims: [],
      },
    };
    const seeds = training ? batch.rowSeeds : new Uint32Array(0);
    const masks = training
      ? drawMasks(graph.sites, tokens, seeds, rows, steps)
      : graph.sites.map((s) => this.onesOf((s.per === 'row' ? rows : rows * steps) * s.width));
    graph.sites.forEach((s, k) => {
      feeds[TRAIN_IO.mask(s.name)] = { data: masks[k], dims: [s.per === 'row' ? rows : rows * steps, s.width] };
    });
    return feeds;
  }

  private onesOf(n: number): Float32Array {
    let ones = this.ones.get(n);
    if (!ones) this.ones.set(n, (ones = new Float32Array(n).fill(1)));
    return ones;
  }

  /** The summed loss and its gradient (not applied), dropout on: for tests and parity checks. */
  async gradients(batch: TrainBatch): Promise<BatchResult & { grads: Float32Array }> {
    const names = this.layout.specs.map((s) => TRAIN_IO.grad(s.name));
    const { out } = await this.run(batch, true, [TRAIN_IO.loss, ...names]);
    const grads = this.layout.assemble((s) => floats(out, TRAIN_IO.grad(s.name)));
    return { lossSum: floats(out, TRAIN_IO.loss)[0], tokens: batch.targets.length, grads };
  }

  /**
   * One training step: the summed gradient, scaled to the mean loss (by the target count, or by the
   * sum of the token weights when the batch has them) and clipped, then Adam.
   */
  async step(batch: TrainBatch, options: StepOptions): Promise<StepResult> {
    const names = this.layout.specs.map((s) => TRAIN_IO.grad(s.name));
    const { out, ms } = await this.run(batch, true, [TRAIN_IO.loss, TRAIN_IO.gradSquares, ...names]);
    const t0 = performance.now();
    const tokens = batch.targets.length;
    const scale = 1 / Math.max(1, tokens);
    const gradNorm = Math.sqrt(floats(out, TRAIN_IO.gradSquares)[0]) * scale;
    const factor = clipFactor(gradNorm, scale, options.clipNorm);
    this.layout.specs.forEach((s, i) => {
      this.adam.update(this.params, this.layout.offsets[i], floats(out, names[i]), factor, options.learningRate);
    });
    this.adam.finishStep();
    return {
      lossSum: floats(out, TRAIN_IO.loss)[0],
      tokens,
      gradNorm,
      ms: { ...ms, update: performance.now() - t0 },
    };
  }

  /** Loss only, without dropout or label smoothing (dev loss). */
  async loss(batch: TrainBatch): Promise<BatchResult> {
    const { out } = await this.run(batch, false, [TRAIN_IO.loss]);
    return { lossSum: floats(out, TRAIN_IO.loss)[0], tokens: batch.targets.length };
  }

  getOptimizerState(): AdamState {
    return this.adam.getState();
  }

  setOptimizerState(state: AdamState): void {
    this.adam.setState(state);
  }

  async close(): Promise<void> {
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    for (const c of graphs) await (await c).session.release();
  }
}
