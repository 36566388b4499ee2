import type { Value } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import type { ModelScope } from '../scope.js';

/** x·W + b, the kernel [in, out] as Keras stores it; optionally relu. */
export function dense(m: ModelScope, x: Value, name: string, activation?: 'relu'): Value {
  const { g } = m;
  const y = op.add(g, op.matMul(g, x, m.param(`${name}.kernel`)), m.param(`${name}.bias`));
  return activation === 'relu' ? op.relu(g, y) : y;
}

/** The parameter shapes of `dense(…, name)`. */
export function denseParams(name: string, inputs: number, units: number) {
  return [
    { name: `${name}.kernel`, shape: [inputs, units] },
    { name: `${name}.bias`, shape: [units] },
  ];
}
