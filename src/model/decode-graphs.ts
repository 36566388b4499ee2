import type { Graph, Value } from '../graph/ir.js';
import { exportOnnx } from '../graph/onnx-export.js';
import * as op from '../graph/ops.js';
import { InferenceGraph } from '../graph/passes.js';
import type { Architecture, ModelConfigBase, StateSpec } from './architecture.js';
import type { ParamLayout } from './params.js';
import type { ModelScope } from './scope.js';

/** Graph-wide names: the start graph reads FEATURES, the step graph reads TOKENS. */
export const FEATURES = 'features';
export const TOKENS = 'tokens';
export const LOG_PROBS = 'log_probs';
/** A changing state `s` is an input of the step graph; its value after the step is the output `s` + NEXT. */
export const NEXT = '.next';

/** The weights of one model, as training holds them or a model folder gives them. */
export interface DecoderWeights {
  architecture: Architecture;
  config: ModelConfigBase;
  layout: ParamLayout;
  params: Float32Array;
}

export interface StepModels {
  /** Features → the states computed at the start; absent when every state starts at zero. */
  start?: Uint8Array;
  /** Tokens and states → log-probabilities and the changed states. */
  step: Uint8Array;
  /** Every member's states, names prefixed by member. */
  states: StateSpec[];
  featureDim: number;
  vocabSize: number;
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
      const { layout, params } = this.weights;
      v = this.g.constant(this.prefix + name, 'float32', layout.spec(name).shape, layout.view(params, name));
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
 * the mean probability). One runtime call then runs a whole ensemble's step.
 */
export function buildDecodeGraphs(members: readonly DecoderWeights[]): StepModels {
  if (members.length === 0) throw new Error('no model to build decoding graphs for');
  const { featureDim, vocabSize } = members[0].config;
  const prefixOf = (k: number) => (members.length === 1 ? '' : `m${k}.`);

  const start = new InferenceGraph('captioner_start');
  const features = start.input(FEATURES, 'float32', ['rows', featureDim]);
  const step = new InferenceGraph('captioner_step');
  const tokens = step.input(TOKENS, 'int32', ['rows']);
  const states: StateSpec[] = [];
  const logits: Value[] = [];

  members.forEach((member, k) => {
    const { architecture: arch, config } = member;
    const prefix = prefixOf(k);
    const specs = arch.states(config);
    const started = arch.start(new ConstantScope(start, member, prefix), config, features);
    const inputs: Record<string, Value> = {};
    for (const s of specs) {
      const name = prefix + s.name;
      states.push({ ...s, name });
      if (s.init === 'start') start.output(started[s.name], name);
      inputs[s.name] = step.input(name, 'float32', ['rows', s.width]);
    }
    const scope = new ConstantScope(step, member, prefix);
    const next = arch.step(scope, config, inputs, tokens);
    for (const s of specs) if (!s.constant) step.output(next.state[s.name], prefix + s.name + NEXT);
    logits.push(arch.head(scope, config, next.output));
  });

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
    featureDim,
    vocabSize,
  };
}
