import type { ParamLayout, ParamSpec } from './params.js';
import type { Rng } from '../util/random.js';
import type { Value } from '../graph/ir.js';
import type { ModelScope } from './scope.js';

/** Fields every architecture's configuration has; the rest is the architecture's own. */
export interface ModelConfigBase {
  arch: string;
  /** Every id, specials included. */
  vocabSize: number;
  /** Length of the pooled image vector the model reads. */
  featureDim: number;
  /**
   * Training only: label smoothing ε, the target distribution (1−ε)·one-hot + ε/V. Discourages
   * over-confident next-word guesses. Dev loss is always the plain cross-entropy.
   */
  labelSmoothing?: number;
  /**
   * Training only, attention models: λ of the doubly stochastic penalty λ·Σᵢ(1 − Σₜ αₜᵢ)², which asks
   * every region to be looked at about once over a caption (Xu et al. 2015).
   */
  attentionPenalty?: number;
}

/**
 * A teacher-forced batch, time-major: step t of row r is at t·rows + r. Inputs are <start> w1 … wn then
 * padding; the target at the same place is w1 … wn <end>. Only `positions` (the real targets) count.
 */
export interface TrainBatch {
  rows: number;
  steps: number;
  inputs: Int32Array;
  /** Indices into the steps·rows grid whose target is a real token (words and <end>). */
  positions: Int32Array;
  /** The target id at each of `positions`. */
  targets: Int32Array;
  /** Pooled image vectors, rows × featureDim. */
  features: Float32Array;
  /** One seed per row for its dropout masks, so a row's masks do not depend on how the batch is split. */
  rowSeeds: Uint32Array;
  /** A weight per target (self-critical training's advantages); absent: every target weighs 1. */
  weights?: Float32Array;
}

/** One tensor a decoder carries from step to step, rows × width floats. */
export interface StateSpec {
  name: string;
  width: number;
  /** Its shape after the rows when it is not a vector (e.g. [regions, channels]); width is their product. */
  shape?: number[];
  /** Zeros before the first step, or computed by `start` from the image. */
  init: 'zeros' | 'start';
  /** Read by every step and never changed (e.g. the image projection). */
  constant: boolean;
}

/**
 * One decoder design, written once, forward only, in the graph IR. Training unrolls `step` over a
 * caption and differentiates it; decoding builds `start` and one `step` + `head` as the graphs the
 * captioner runs; ensembles put several into one graph. Nothing else knows an architecture's maths.
 */
export interface Architecture<C extends ModelConfigBase = ModelConfigBase> {
  readonly name: string;
  /** Default configuration for a vocabulary and an image-vector length. */
  defaults(vocabSize: number, featureDim: number): C;
  /** Checks a configuration read from disk; throws a CaptionerError naming what is wrong. */
  validate(config: ModelConfigBase): C;
  params(config: C): ParamSpec[];
  /** Fresh weights into `flat` (laid out by `layout`). */
  init(config: C, layout: ParamLayout, flat: Float32Array, rng: Rng): void;
  states(config: C): StateSpec[];
  /**
   * What the model reads of an image, after the rows: [featureDim] for the pooled vector (the default),
   * [channels, regions] for the spatial map as `captioner features --spatial` stores it.
   */
  input?(config: C): number[];
  /** The image's features [rows, …input] → the states whose init is 'start'. */
  start(m: ModelScope, config: C, features: Value): Record<string, Value>;
  /**
   * One step: the states and this step's input tokens [rows] → the next states, the vector the head
   * reads and, for attention models, the step's weights over the image regions [rows, regions].
   */
  step(m: ModelScope, config: C, state: Record<string, Value>, tokens: Value): StepOutput;
  /** Step outputs [n, width] → next-word logits [n, vocabSize]. */
  head(m: ModelScope, config: C, output: Value): Value;
}

export interface StepOutput {
  state: Record<string, Value>;
  output: Value;
  attention?: Value;
}

/** The shape after the rows of the features an architecture reads. */
export function inputShape<C extends ModelConfigBase>(arch: Architecture<C>, config: C): number[] {
  return arch.input?.(config) ?? [config.featureDim];
}

/** The shape of a state after the rows. */
export function stateShape(s: StateSpec): number[] {
  return s.shape ?? [s.width];
}
