import type { Value } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { dense } from './dense.js';
import type { ModelScope } from '../scope.js';
import { byImage, byRow } from './image-rows.js';

/**
 * Additive ("Bahdanau") attention over image regions, as in Show, Attend and Tell:
 *   e = w·tanh(featuresW + hU + b),  α = softmax(e) over the regions,  context = Σ α·features.
 * `keys` (featuresW + b) does not change during a caption: the model computes it once, at the start.
 */
export function softAttention(
  m: ModelScope,
  name: string,
  features: Value, // [images, R, C]
  keys: Value, // [images, R, A]
  h: Value, // [rows, U]: k rows per image (see image-rows.ts)
): { alpha: Value; context: Value } {
  const { g } = m;
  const query = op.matMul(g, h, m.param(`${name}.query.kernel`)); // [rows, A]
  const perImage = op.unsqueeze(g, byImage(g, query, keys), 2); // [images, k, 1, A]
  const energy = op.tanh(g, op.add(g, op.unsqueeze(g, keys, 1), perImage)); // [images, k, R, A]
  const scores = op.squeeze(g, op.matMul(g, energy, m.param(`${name}.score.kernel`)), 3); // [images, k, R]
  const alpha = op.softmax(g, scores, -1); // [images, k, R]
  const context = op.matMul(g, alpha, features); // [images, k, C]: the image's regions read once for its k rows
  const rows = h.shape[0];
  return { alpha: byRow(g, alpha, rows), context: byRow(g, context, rows) };
}

/** keys = features·W + b: the attention's projection of every region, once per image. */
export function attentionKeys(m: ModelScope, name: string, features: Value): Value {
  return dense(m, features, `${name}.keys`); // [images, R, C] → [images, R, A]
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
