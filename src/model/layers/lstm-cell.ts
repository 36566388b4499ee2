import type { Value } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import type { ModelScope } from '../scope.js';

/**
 * One LSTM step, gate order i, f, g, o (PyTorch's), kernels [in, 4·units] as Keras stores them:
 *   gates = x·W + b + h·R;  c' = σ(f)⊙c + σ(i)⊙tanh(g);  h' = σ(o)⊙tanh(c').
 * x·W + b comes first on purpose: it does not depend on the state, so an unrolled training graph
 * computes it for every step in one product, and a decoding graph folds it into the embedding table.
 */
export function lstmCell(
  m: ModelScope,
  name: string,
  x: Value, // [rows, in]
  h: Value, // [rows, units]
  c: Value, // [rows, units]
  units: number,
  /** More input that depends on the state (attention's context), already multiplied: [rows, 4u]. */
  extra?: Value,
): { h: Value; c: Value } {
  const { g } = m;
  const input = op.add(g, op.matMul(g, x, m.param(`${name}.kernel`)), m.param(`${name}.bias`)); // [rows, 4u]
  const recurrent = op.matMul(g, h, m.param(`${name}.recurrent_kernel`)); // [rows, 4u]
  const gates = op.add(g, input, extra ? op.add(g, recurrent, extra) : recurrent); // [rows, 4u]
  const [i, f, gg, o] = op.split(g, gates, 1, [units, units, units, units]); // 4 × [rows, u]
  const cNext = op.add(g, op.mul(g, op.sigmoid(g, f), c), op.mul(g, op.sigmoid(g, i), op.tanh(g, gg)));
  const hNext = op.mul(g, op.sigmoid(g, o), op.tanh(g, cNext));
  return { h: hNext, c: cNext };
}

/** The parameter shapes of `lstmCell(…, name)`. */
export function lstmParams(name: string, inputs: number, units: number) {
  return [
    { name: `${name}.kernel`, shape: [inputs, 4 * units] },
    { name: `${name}.recurrent_kernel`, shape: [units, 4 * units] },
    { name: `${name}.bias`, shape: [4 * units] },
  ];
}
