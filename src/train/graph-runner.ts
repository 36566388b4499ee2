import {
  inputShape,
  type Architecture,
  type ModelConfigBase,
  type TrainBatch,
} from '../model/architecture.js';
import type { ParamLayout } from '../model/params.js';
import { Session, floats, type Tensor } from '../runtime/onnx.js';
import { drawMasks } from './dropout-masks.js';
import { buildTrainGraph, TRAIN_IO, type TrainGraph } from './train-graph.js';

export interface BatchResult {
  /** Summed cross-entropy (nats) over the batch's target tokens (weighted, when the batch has weights). */
  lossSum: number;
  tokens: number;
}

export interface RunnerOptions {
  /** Rows every graph is built for (the batch size); smaller batches are padded. */
  rows: number;
  /** onnxruntime intra-op threads. */
  threads: number;
  /** Let idle threads spin between ops (see SessionOptions). */
  spinning?: boolean;
}

/** Wall time of a run's parts (ms): laying out the inputs, and the graph (forward + backward). */
export interface RunTimes {
  inputs: number;
  graph: number;
}

/**
 * How many training graphs stay loaded: every caption length of a Flickr8k epoch (17 buckets), so
 * none is rebuilt. A loaded graph holds its kernels and plan, not its activations (see keepMemory).
 */
const LOADED_GRAPHS = 24;

/**
 * The unrolled length a batch of `steps` input steps runs at: its own up to 16 (most captions), then
 * rounded up to a multiple of 4, so that the rare long batches share a few graphs. The extra steps
 * are padding: they reach no loss.
 */
export function stepBucket(steps: number): number {
  return steps <= 16 ? steps : Math.ceil(steps / 4) * 4;
}

interface Compiled {
  graph: TrainGraph;
  session: Session;
}

/**
 * Runs an architecture's training graphs in onnxruntime, in this thread: one call per batch computes
 * forward, loss and backward together (graphs are built per length on first use). It reads the weights
 * in place from `weights`, which its owner updates between calls.
 */
export class GraphRunner {
  private readonly graphs = new Map<string, Promise<Compiled>>();
  private readonly weightFeeds: Record<string, Tensor>;
  private readonly ones = new Map<number, Float32Array>();
  /** Floats per row of TrainBatch.features: the product of the architecture's input shape. */
  private readonly inputSize: number;

  constructor(
    private readonly arch: Architecture,
    private readonly config: ModelConfigBase,
    private readonly layout: ParamLayout,
    private readonly options: RunnerOptions,
    weights: Float32Array,
  ) {
    this.inputSize = inputShape(arch, config).reduce((a, b) => a * b, 1);
    this.weightFeeds = Object.fromEntries(
      layout.specs.map((s) => [s.name, { data: layout.view(weights, s.name), dims: s.shape }]),
    );
  }

  /**
   * The graph for batches of this many rows and steps, built and loaded on first use; the most
   * recently used LOADED_GRAPHS stay loaded.
   */
  private compiled(rows: number, steps: number): Promise<Compiled> {
    const key = `${rows}x${steps}`;
    let c = this.graphs.get(key);
    if (c)
      this.graphs.delete(key); // re-inserted below: the Map's order is the recency order
    else
      c = (async () => {
        const graph = buildTrainGraph(this.arch, this.config, this.layout, rows, steps);
        const session = await Session.create(graph.model, {
          threads: this.options.threads,
          spinning: this.options.spinning,
          // Measured with bench:train: the same speed either way, and a 16-step graph of the
          // 512-wide attention model keeps ~0.1 GB loaded instead of ~0.6 GB.
          keepMemory: false,
        });
        return { graph, session };
      })();
    this.graphs.set(key, c);
    while (this.graphs.size > LOADED_GRAPHS) {
      const [oldest, evicted] = this.graphs.entries().next().value!;
      this.graphs.delete(oldest);
      void evicted.then((e) => e.session.release());
    }
    return c;
  }

  /** Runs the batch's graph for `outputs`. */
  async run(
    batch: TrainBatch,
    training: boolean,
    outputs: string[],
    into?: Record<string, Tensor>,
  ): Promise<{ out: Record<string, Tensor>; ms: RunTimes }> {
    const t0 = performance.now();
    const rows = Math.max(this.options.rows, batch.rows);
    const { graph, session } = await this.compiled(rows, stepBucket(batch.steps));
    const feeds = { ...this.weightFeeds, ...this.batchFeeds(batch, rows, graph, training) };
    const t1 = performance.now();
    // onnxruntime-node runs a session synchronously on this thread (behind a setImmediate): nothing
    // else of ours runs meanwhile, so there is nothing to overlap with it here.
    const out = await session.run(feeds, outputs, into);
    return { out, ms: { inputs: t1 - t0, graph: performance.now() - t1 } };
  }

  /** The batch padded to the graph's rows (padding rows have no targets), masks, ε and token weights. */
  private batchFeeds(batch: TrainBatch, rows: number, graph: TrainGraph, training: boolean) {
    const { rows: b } = batch;
    const steps = graph.steps; // ≥ batch.steps: the steps after a batch's own are padding
    const dim = this.inputSize;
    let tokens = batch.inputs;
    let positions = batch.positions;
    let features = batch.features;
    if (b !== rows || batch.steps !== steps) {
      tokens = new Int32Array(steps * rows);
      for (let t = 0; t < batch.steps; t++) tokens.set(batch.inputs.subarray(t * b, (t + 1) * b), t * rows);
      positions = batch.positions.map((p) => Math.floor(p / b) * rows + (p % b));
      features = new Float32Array(rows * dim);
      features.set(batch.features);
    }
    const n = batch.targets.length;
    const feeds: Record<string, Tensor> = {
      [TRAIN_IO.features]: { data: features, dims: [rows, ...inputShape(this.arch, this.config)] },
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
    if (graph.penalized)
      feeds[TRAIN_IO.penalty] = {
        data: Float32Array.of(training ? (this.config.attentionPenalty ?? 0) : 0),
        dims: [],
      };
    graph.sites.forEach((s, k) => {
      feeds[TRAIN_IO.mask(s.name)] = {
        data: masks[k],
        dims: [s.per === 'row' ? rows : rows * steps, s.width],
      };
    });
    return feeds;
  }

  private onesOf(n: number): Float32Array {
    let ones = this.ones.get(n);
    if (!ones) this.ones.set(n, (ones = new Float32Array(n).fill(1)));
    return ones;
  }

  /**
   * The summed loss of a batch and its gradient, written into `grads` (flat, in the layout's order),
   * and Σ g² of that gradient. `regularized`: dropout, label smoothing and the attention penalty on (as
   * the model was configured); off, the plain weighted log-likelihood (self-critical training).
   */
  async gradientsInto(
    batch: TrainBatch,
    grads: Float32Array,
    regularized = true,
  ): Promise<BatchResult & { squares: number; ms: RunTimes }> {
    const names = this.layout.specs.map((s) => TRAIN_IO.grad(s.name));
    // onnxruntime writes each weight's gradient into its place in `grads` (for the 512-wide attention
    // model ~38 MB a step that would otherwise be a new array, then copied).
    const into = Object.fromEntries(
      this.layout.specs.map((s, i) => [names[i], { data: this.layout.view(grads, s.name), dims: s.shape }]),
    );
    const { out, ms } = await this.run(
      batch,
      regularized,
      [TRAIN_IO.loss, TRAIN_IO.gradSquares, ...names],
      into,
    );
    return {
      lossSum: floats(out, TRAIN_IO.loss)[0],
      tokens: batch.targets.length,
      squares: floats(out, TRAIN_IO.gradSquares)[0],
      ms,
    };
  }

  /** Loss only, without dropout or label smoothing (dev loss). */
  async loss(batch: TrainBatch): Promise<BatchResult> {
    const { out } = await this.run(batch, false, [TRAIN_IO.loss]);
    return { lossSum: floats(out, TRAIN_IO.loss)[0], tokens: batch.targets.length };
  }

  async close(): Promise<void> {
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    for (const c of graphs) await (await c).session.release();
  }
}
