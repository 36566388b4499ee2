/**
 * Every gradient rule of the graph IR against central finite differences: for each operator, a small
 * graph x → op(…) → Σ k⊙y (k fixed, so every output element matters), its autodiff gradient, and
 * (f(x+h) − f(x−h)) / 2h for every element of x, run in onnxruntime (float32, h = 1e-2).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gradients } from '../../src/graph/autodiff.js';
import { GRADIENT_RULES } from '../../src/graph/gradient-rules.js';
import { Graph, type Value } from '../../src/graph/ir.js';
import { exportOnnx } from '../../src/graph/onnx-export.js';
import * as op from '../../src/graph/ops.js';
import { floats, Session } from '../../src/runtime/onnx.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Σ k⊙v with a fixed k of v's shape: a scalar that depends on every element. */
function weightedSum(g: Graph, v: Value): Value {
  const shape = v.shape as number[];
  const k = g.constant(
    'k',
    'float32',
    shape,
    Float32Array.from({ length: size(shape) }, (_, i) => Math.cos(1 + i * 0.7)),
  );
  return op.reduceSum(
    g,
    op.mul(g, v, k),
    shape.map((_, i) => i),
  );
}

/** Builds f(x) and its gradient; checks the gradient against finite differences. Returns the ops used. */
async function check(
  name: string,
  shape: number[],
  build: (g: Graph, x: Value) => Value,
  options: { scalarLoss?: boolean; data?: (i: number) => number } = {},
): Promise<Set<string>> {
  const g = new Graph(name);
  const x = g.input('x', 'float32', shape);
  const y = build(g, x);
  const loss = options.scalarLoss ? y : weightedSum(g, y);
  const forward = new Set(g.nodes.map((n) => n.op));
  const [dx] = gradients(g, loss, [x]);
  g.output(loss, 'loss');
  g.output(dx, 'dx');
  const session = await Session.create(exportOnnx(g));
  const data = Float32Array.from(
    { length: size(shape) },
    (_, i) => options.data?.(i) ?? 0.9 * Math.sin(1.3 * i + 0.4) + 0.05,
  );
  const feeds = { x: { data, dims: shape } };
  const analytic = floats(await session.run(feeds), 'dx');
  const h = 1e-2;
  for (let i = 0; i < data.length; i++) {
    const original = data[i];
    data[i] = original + h;
    const plus = floats(await session.run(feeds, ['loss']), 'loss')[0];
    data[i] = original - h;
    const minus = floats(await session.run(feeds, ['loss']), 'loss')[0];
    data[i] = original;
    const numeric = (plus - minus) / (2 * h);
    const tolerance = 2e-3 + 1e-2 * Math.abs(numeric);
    assert.ok(
      Math.abs(numeric - analytic[i]) < tolerance,
      `${name}: d/dx[${i}] analytic ${analytic[i]}, numeric ${numeric}`,
    );
  }
  await session.release();
  return forward;
}

test('every gradient rule matches finite differences', async () => {
  const covered = new Set<string>();
  const run = async (...args: Parameters<typeof check>) =>
    (await check(...args)).forEach((o) => covered.add(o));
  const c = (g: Graph, shape: number[], seed = 1) =>
    g.constant(
      `c${seed}`,
      'float32',
      shape,
      Float32Array.from({ length: size(shape) }, (_, i) => 0.5 + 0.4 * Math.sin(seed + i)),
    );

  await run('Add/Sub broadcast', [3, 4], (g, x) =>
    op.sub(g, op.add(g, x, c(g, [4])), op.slice(g, x, 0, 1, 2)),
  );
  await run('Sub (right)', [4], (g, x) => op.sub(g, c(g, [3, 4]), x));
  await run('Mul/Div broadcast', [3, 4], (g, x) =>
    op.div(g, op.mul(g, x, op.slice(g, x, 1, 0, 1)), op.add(g, op.mul(g, x, x), c(g, [1, 4]))),
  );
  await run('Neg/Exp/Log', [2, 3], (g, x) => op.neg(g, op.log(g, op.add(g, op.exp(g, x), op.scalar(g, 1)))));
  await run('Sigmoid/Tanh/Relu', [2, 5], (g, x) =>
    op.mul(g, op.sigmoid(g, x), op.add(g, op.tanh(g, x), op.relu(g, x))),
  );
  await run('Softmax/LogSoftmax', [3, 5], (g, x) =>
    op.add(g, op.softmax(g, x), op.logSoftmax(g, op.mul(g, x, op.scalar(g, 2)))),
  );
  await run('MatMul 2-D (both sides)', [3, 4], (g, x) =>
    op.matMul(g, op.transpose(g, x), op.matMul(g, x, c(g, [4, 2]))),
  );
  await run('MatMul 3-D × weight', [4, 3], (g, x) =>
    op.matMul(g, op.reshape(g, c(g, [2, 3, 4]), [2, 3, 4]), x),
  );
  await run('MatMul 3-D × 3-D', [2, 3, 4], (g, x) => op.matMul(g, x, op.transpose(g, x, [0, 2, 1])));
  await run('Gather rows (repeated ids)', [5, 3], (g, x) =>
    op.gather(g, x, g.constant('ids', 'int32', [2, 3], Int32Array.from([0, 4, 4, 2, 1, 0]))),
  );
  await run('Concat/Split', [2, 5], (g, x) => {
    const [a, b] = op.split(g, x, 1, [2, 3]);
    return op.concat(g, [op.tanh(g, b), op.mul(g, a, a), a], 1);
  });
  await run('Slice (joined and with gaps)', [6, 2], (g, x) =>
    op.concat(g, [op.slice(g, x, 0, 0, 2), op.mul(g, op.slice(g, x, 0, 2, 4), op.slice(g, x, 0, 2, 4))], 0),
  );
  await run('Reshape/Unsqueeze/Squeeze/Transpose', [2, 6], (g, x) =>
    op.transpose(g, op.squeeze(g, op.unsqueeze(g, op.reshape(g, x, [3, -1]), 0), 0), [1, 0]),
  );
  await run('Expand', [1, 3], (g, x) => op.expandAs(g, x, c(g, [4, 3])));
  await run('ReduceSum/ReduceMean', [3, 4], (g, x) =>
    op.mul(g, op.reduceSum(g, x, [1], true), op.reduceMean(g, op.mul(g, x, x), [0], false)),
  );
  await run(
    'ReduceSumSquare/Sum/Identity',
    [2, 3],
    (g, x) => {
      const s = op.sumSquares(g, op.identity(g, x));
      return g.node('Sum', [s, op.reduceSum(g, x, [0, 1])], {}, [{ dtype: 'float32', shape: [] }])[0];
    },
    { scalarLoss: true },
  );
  await run(
    'SoftmaxCrossEntropy (label smoothing, token weights)',
    [4, 5],
    (g, x) =>
      op.reduceSum(
        g,
        op.softmaxCrossEntropy(
          g,
          x,
          g.constant('t', 'int32', [4], Int32Array.from([0, 3, 4, 3])),
          g.constant('w', 'float32', [4], Float32Array.from([1, 0.5, 2, -1])),
          op.scalar(g, 0.1),
        ),
        [0],
      ),
    { scalarLoss: true },
  );
  // Every operator with a rule was exercised (the rules' table is what autodiff can differentiate).
  const untested = Object.keys(GRADIENT_RULES).filter((o) => !covered.has(o));
  assert.deepEqual(untested, [], `rules without a finite-difference check: ${untested.join(', ')}`);
});
