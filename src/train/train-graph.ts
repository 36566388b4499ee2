import { gradients } from '../graph/autodiff.js';
import type { Value } from '../graph/ir.js';
import { exportOnnx } from '../graph/onnx-export.js';
import * as op from '../graph/ops.js';
import { UnrolledGraph } from '../graph/passes.js';
import { inputShape, stateShape, type Architecture, type ModelConfigBase } from '../model/architecture.js';
import type { ParamLayout } from '../model/params.js';
import type { ModelScope } from '../model/scope.js';

/** Input and output names of a training graph. */
export const TRAIN_IO = {
  features: 'features',
  tokens: 'tokens',
  positions: 'positions',
  targets: 'targets',
  weights: 'weights',
  epsilon: 'epsilon',
  penalty: 'attention_penalty',
  loss: 'loss',
  gradSquares: 'grad_squares',
  grad: (param: string) => `grad.${param}`,
  mask: (site: string) => `mask.${site}`,
} as const;

/** A dropout site of the model: one mask per row ('row') or per row and time step ('time'). */
export interface DropoutSite {
  name: string;
  width: number;
  per: 'row' | 'time';
  rate: number;
}

export interface TrainGraph {
  /** The serialized ONNX model: forward, loss and backward. */
  model: Uint8Array;
  rows: number;
  steps: number;
  /** In the order the model declares them, which is the order masks are drawn in. */
  sites: DropoutSite[];
  /** Whether the graph reads TRAIN_IO.penalty (an attention model trained with the penalty). */
  penalized: boolean;
}

/** Weights as graph inputs; dropout as mask inputs, declared as the model asks for them. */
class TrainScope implements ModelScope {
  readonly sites: DropoutSite[] = [];
  private readonly masks = new Map<string, Value>();

  constructor(
    readonly g: UnrolledGraph,
    private readonly weights: ReadonlyMap<string, Value>,
  ) {}

  param(name: string): Value {
    const v = this.weights.get(name);
    if (!v) throw new Error(`the model asks for a weight ${name} its params() does not list`);
    return v;
  }

  dropout(x: Value, rate: number, site: string): Value {
    if (rate <= 0) return x;
    const { g } = this;
    let mask = this.masks.get(site);
    if (!mask) {
      const per = g.tagOf(x) === 'row' ? 'row' : 'time';
      if (g.tagOf(x) === 'const') throw new Error(`dropout site ${site}: dropout of a weight`);
      const width = x.shape[x.shape.length - 1] as number;
      const rows = per === 'row' ? g.rows : g.rows * g.steps;
      mask = g.tag(g.input(TRAIN_IO.mask(site), 'float32', [rows, width]), per);
      this.masks.set(site, mask);
      this.sites.push({ name: site, width, per, rate });
    }
    return op.mul(g, x, mask);
  }
}

/**
 * The teacher-forced training graph of an architecture for batches of `rows` captions of `steps`
 * input tokens: the model's `start`, its `step` unrolled `steps` times (the state-free parts hoisted
 * out of the loop, see UnrolledGraph), its `head` on the real target positions only, the summed
 * cross-entropy (label smoothing ε and a weight per target token as inputs), and, appended by
 * autodiff, the gradient of that sum with respect to every weight. Its inputs are time-major like
 * TrainBatch: step t of row r is at t·rows + r.
 */
export function buildTrainGraph(
  arch: Architecture,
  config: ModelConfigBase,
  layout: ParamLayout,
  rows: number,
  steps: number,
): TrainGraph {
  const g = new UnrolledGraph(`captioner_train_${steps}`, rows, steps);
  const weights = new Map(layout.specs.map((s) => [s.name, g.input(s.name, 'float32', s.shape)] as const));
  const features = g.tag(g.input(TRAIN_IO.features, 'float32', [rows, ...inputShape(arch, config)]), 'row');
  const tokens = g.tag(g.input(TRAIN_IO.tokens, 'int32', [steps * rows]), 'time');
  const positions = g.input(TRAIN_IO.positions, 'int32', ['targets']);
  const targets = g.input(TRAIN_IO.targets, 'int32', ['targets']);
  const tokenWeights = g.input(TRAIN_IO.weights, 'float32', ['targets']);
  const epsilon = g.input(TRAIN_IO.epsilon, 'float32', []);
  const m = new TrainScope(g, weights);

  g.step = 0;
  const started = arch.start(m, config, features);
  let state: Record<string, Value> = {};
  for (const s of arch.states(config))
    state[s.name] =
      s.init === 'start' ? started[s.name] : g.tag(op.zeros(g, 'float32', [rows, ...stateShape(s)]), 'row');
  const outputs: Value[] = [];
  const penalty = config.attentionPenalty ?? 0;
  // 1 at the real input steps of each row, 0 at padding: [steps·rows]
  const real = penalty > 0 ? op.positive(g, op.cast(g, tokens, 'float32')) : undefined;
  let looked: Value | undefined; // Σₜ αₜ over real steps: [rows, regions]
  for (let t = 0; t < steps; t++) {
    g.step = t;
    const next = arch.step(m, config, state, tokens);
    outputs.push(g.atStep(next.output)); // [rows, width]
    if (real && next.attention) {
      const alpha = op.mul(g, next.attention, op.unsqueeze(g, real, 1));
      looked = looked ? op.add(g, looked, alpha) : alpha;
    }
    state = next.state;
  }
  g.step = -1;

  const picked = op.gather(g, op.concat(g, outputs, 0), positions); // [targets, width]
  const logits = arch.head(m, config, picked); // [targets, V]
  let loss = op.reduceSum(g, op.softmaxCrossEntropy(g, logits, targets, tokenWeights, epsilon), [0]);
  if (looked) {
    // The doubly stochastic penalty λ·Σᵢ(1 − Σₜ αₜᵢ)² of every real row (λ an input: 0 for dev loss).
    const miss = op.sub(g, op.scalar(g, 1), looked); // [rows, regions]
    const realRow = op.positive(g, op.reduceSum(g, op.reshape(g, real!, [steps, rows]), [0])); // [rows]
    const squares = op.sumSquares(g, op.mul(g, miss, op.unsqueeze(g, realRow, 1)));
    loss = op.add(g, loss, op.mul(g, squares, g.input(TRAIN_IO.penalty, 'float32', [])));
  }
  g.output(loss, TRAIN_IO.loss);
  const grads = gradients(g, loss, [...weights.values()]);
  const squares = grads.map((grad) => op.sumSquares(g, grad));
  layout.specs.forEach((s, i) => g.output(grads[i], TRAIN_IO.grad(s.name)));
  g.output(g.node('Sum', squares, {}, [{ dtype: 'float32', shape: [] }])[0], TRAIN_IO.gradSquares);
  return { model: exportOnnx(g), rows, steps, sites: m.sites, penalized: looked !== undefined };
}
