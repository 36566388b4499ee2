import type { Graph, Value } from '../graph/ir.js';
import { exportOnnx } from '../graph/onnx-export.js';
import * as op from '../graph/ops.js';
import { InferenceGraph, type IntegerProducts } from '../graph/passes.js';
import {
  inputShape,
  stateShape,
  type Architecture,
  type ModelConfigBase,
  type StateSpec,
} from './architecture.js';
import type { ModelSource } from '../runtime/session-core.js';
import type { ParamLayout } from './params.js';
import type { Int8Matrix } from './safetensors.js';
import type { ModelScope } from './scope.js';

/** Graph-wide names: the start graph reads FEATURES, the step graph reads TOKENS. */
export const FEATURES = 'features';
export const TOKENS = 'tokens';
export const LOG_PROBS = 'log_probs';
/** Attention models' weights over the image regions at this step, [rows, regions]. */
export const ATTENTION = 'attention';
/** A changing state `s` is an input of the step graph; its value after the step is the output `s` + NEXT. */
export const NEXT = '.next';

/** The weights of one model, as training holds them or a model folder gives them. */
export interface DecoderWeights {
  architecture: Architecture;
  config: ModelConfigBase;
  layout: ParamLayout;
  params: Float32Array;
  /**
   * Matrices to keep as int8 in the graph (a model folder's Q8 weights, by parameter name): an int8
   * constant and its float scales (per row or per column), dequantized in the graph (Cast, Mul), so the
   * serialized graph is about a quarter of the float size (a bundle's), or multiplied in integers
   * (`integerProducts`). `params` must hold the same values (int8 · scale, in float32).
   */
  int8?: ReadonlyMap<string, Int8Weights>;
}

/** An int8 matrix as a Q8 model folder stores it (values and a scale per row or per column). */
export type Int8Weights = Int8Matrix;

/** The decoding graphs (serialized; a runtime may be given them with their weights apart: ModelSource). */
export interface StepModels<G extends ModelSource = Uint8Array> {
  /** Features → the states computed at the start; absent when every state starts at zero. */
  start?: G;
  /** Tokens and states → log-probabilities and the changed states. */
  step: G;
  /** Every member's states, names prefixed by member. */
  states: StateSpec[];
  /** The features one image gives the start graph (the product of the input shape). */
  featureDim: number;
  /** Their shape after the rows. */
  startShape: number[];
  vocabSize: number;
  /** Regions of the step graph's ATTENTION output, when it has one. */
  regions?: number;
  /**
   * The step graph reads each constant state once per image ([images, …]) and the other inputs as k
   * rows per image, grouped in image order. Absent (graphs exported before): one row per row.
   */
  constantsPerImage?: boolean;
}

/** Weights as constants of the graph, no dropout: the model as it runs after training. */
class ConstantScope implements ModelScope {
  private readonly cache = new Map<string, Value>();

  constructor(
    readonly g: Graph,
    private readonly weights: DecoderWeights,
    private readonly prefix: string,
  ) {}

  param(name: string): Value {
    let v = this.cache.get(name);
    if (!v) {
      const { layout, params, int8 } = this.weights;
      const shape = layout.spec(name).shape;
      const q = int8?.get(name);
      if (q && shape.length === 2) {
        // [rows, cols] int8 · [rows, 1] or [1, cols] scales. InferenceGraph then leaves an embedding product
        // unfolded (its operands are no longer constants): a step does the lookup and a small product.
        const values = this.g.constant(`${this.prefix}${name}.q8`, 'int8', shape, q.values);
        const scaleShape = q.perRow ? [shape[0], 1] : [1, shape[1]];
        const scales = this.g.constant(`${this.prefix}${name}.q8_scale`, 'float32', scaleShape, q.scales);
        v = op.mul(this.g, op.cast(this.g, values, 'float32'), scales);
      } else v = this.g.constant(this.prefix + name, 'float32', shape, layout.view(params, name));
      this.cache.set(name, v);
    }
    return v;
  }

  dropout(x: Value): Value {
    return x;
  }
}

/**
 * The start and step graphs of one model, or of an ensemble: each member's `start`, `step` and `head`
 * under its own name prefix, and a head that averages the members' next-word probabilities (log of
 * the mean probability). One runtime call then runs a whole ensemble's step. `integerProducts`: the
 * products with int8 weights (scaled per column) run in integers; `foldInt8Lookups`: embeddings fold
 * into their products even when int8; `integersInFloats`: those integer products as standard float
 * operators, with the same result (see InferenceGraph).
 */
export function buildDecodeGraphs(
  members: readonly DecoderWeights[],
  options: { integerProducts?: IntegerProducts; foldInt8Lookups?: boolean; integersInFloats?: boolean } = {},
): StepModels {
  const integer = options.integerProducts ?? false;
  const fold = options.foldInt8Lookups === true;
  const inFloats = options.integersInFloats === true;
  if (members.length === 0) throw new Error('no model to build decoding graphs for');
  const { vocabSize } = members[0].config;
  const shapes = members.map((m) => inputShape(m.architecture, m.config));
  // The graph reads the spatial map when any member attends; see memberFeatures for the others.
  const shape = shapes.find((s) => s.length > 1) ?? shapes[0];
  const prefixOf = (k: number) => (members.length === 1 ? '' : `m${k}.`);

  const start = new InferenceGraph('captioner_start', integer, fold, inFloats);
  const features = start.input(FEATURES, 'float32', ['rows', ...shape]);
  /**
   * What member k reads: the graph's input, or, for a pooled-vector member of an ensemble with an
   * attention member, the map's mean over its regions: what the encoder's global pooling computes
   * (MobileNetV2 int8: within 0.7% of the pooled output, whose pooling is quantized).
   */
  const memberFeatures = (k: number): Value => {
    const own = shapes[k];
    if (own.join() === shape.join()) return features;
    if (own.length === 1 && shape.length === 2 && own[0] === shape[0])
      return op.reduceMean(start, features, [2]);
    throw new Error(
      `ensemble members read image features of different shapes: [${own.join(', ')}] and [${shape.join(', ')}]`,
    );
  };
  const step = new InferenceGraph('captioner_step', integer, fold, inFloats);
  const tokens = step.input(TOKENS, 'int32', ['rows']);
  const states: StateSpec[] = [];
  const logits: Value[] = [];
  let attention: Value | undefined;

  members.forEach((member, k) => {
    const { architecture: arch, config } = member;
    const prefix = prefixOf(k);
    const specs = arch.states(config);
    const started = arch.start(new ConstantScope(start, member, prefix), config, memberFeatures(k));
    const inputs: Record<string, Value> = {};
    for (const s of specs) {
      const name = prefix + s.name;
      states.push({ ...s, name });
      if (s.init === 'start') start.output(started[s.name], name);
      inputs[s.name] = step.input(name, 'float32', [s.constant ? 'images' : 'rows', ...stateShape(s)]);
    }
    const scope = new ConstantScope(step, member, prefix);
    const next = arch.step(scope, config, inputs, tokens);
    for (const s of specs) if (!s.constant) step.output(next.state[s.name], prefix + s.name + NEXT);
    logits.push(arch.head(scope, config, next.output));
    attention ??= next.attention; // an ensemble shows its first attention member's weights
  });
  if (attention) step.output(attention, ATTENTION);

  if (logits.length === 1) step.output(op.logSoftmax(step, logits[0]), LOG_PROBS);
  else {
    const probs = logits.map((l) => op.softmax(step, l));
    const sum = step.node('Sum', probs, {}, [{ dtype: 'float32', shape: probs[0].shape }])[0];
    step.output(op.log(step, op.mul(step, sum, op.scalar(step, 1 / logits.length))), LOG_PROBS);
  }
  return {
    start: start.outputs.length > 0 ? exportOnnx(start) : undefined,
    step: exportOnnx(step),
    states,
    featureDim: shape.reduce((a, b) => a * b, 1),
    startShape: shape,
    vocabSize,
    regions: attention ? (attention.shape[1] as number) : undefined,
    constantsPerImage: true,
  };
}
