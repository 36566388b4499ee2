import type { Value } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { dense } from './dense.js';
import type { ModelScope } from '../scope.js';

/**
 * Additive ("Bahdanau") attention over image regions, as in Show, Attend and Tell:
 *   e = w·tanh(featuresW + hU + b),  α = softmax(e) over the regions,  context = Σ α·features.
 * `keys` (featuresW + b) does not change during a caption: the model computes it once, at the start.
 */
export function softAttention(
  m: ModelScope,
  name: string,
  features: Value, // [rows, R, C]
  keys: Value, // [rows, R, A]
  h: Value, // [rows, U]
): { alpha: Value; context: Value } {
  const { g } = m;
  const query = op.unsqueeze(g, op.matMul(g, h, m.param(`${name}.query.kernel`)), 1); // [rows, 1, A]
  const energy = op.tanh(g, op.add(g, keys, query)); // [rows, R, A]
  const scores = op.squeeze(g, op.matMul(g, energy, m.param(`${name}.score.kernel`)), 2); // [rows, R]
  const alpha = op.softmax(g, scores, -1); // [rows, R]
  const context = op.squeeze(g, op.matMul(g, op.unsqueeze(g, alpha, 1), features), 1); // [rows, C]
  return { alpha, context };
}

/** keys = features·W + b: the attention's projection of every region, once per image. */
export function attentionKeys(m: ModelScope, name: string, features: Value): Value {
  return dense(m, features, `${name}.keys`); // [rows, R, C] → [rows, R, A]
}

/** The parameter shapes of `softAttention(…, name)` and `attentionKeys(…, name)`. */
export function attentionParams(name: string, channels: number, units: number, width: number) {
  return [
    { name: `${name}.keys.kernel`, shape: [channels, width] },
    { name: `${name}.keys.bias`, shape: [width] },
    { name: `${name}.query.kernel`, shape: [units, width] },
    { name: `${name}.score.kernel`, shape: [width, 1] },
  ];
}
