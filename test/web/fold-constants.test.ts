import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { foldDequantization } from '../../src/browser/fold-constants.js';
import { Graph } from '../../src/graph/ir.js';
import { exportOnnx } from '../../src/graph/onnx-export.js';
import * as op from '../../src/graph/ops.js';

for (const [layout, scaleShape, scales] of [
  ['per row', [4, 1], Float32Array.of(0.5, 0.25, 0.125, 1 / 3)],
  ['per column', [1, 3], Float32Array.of(0.5, 0.25, 1 / 3)],
] as const)
  test(`the int8 weights’ dequantization (scales ${layout}) is folded into float weights: same outputs, no Cast or Mul left`, async () => {
    const g = new Graph('fold');
    const x = g.input('x', 'float32', ['rows', 4]);
    const q = g.constant('w.q8', 'int8', [4, 3], Int8Array.of(1, -2, 3, 127, -127, 0, 5, 6, -7, 8, 9, 10));
    const s = g.constant('w.scale', 'float32', scaleShape, scales);
    const w = op.mul(g, op.cast(g, q, 'float32'), s);
    g.output(op.matMul(g, x, w), 'y');
    const model = exportOnnx(g);
    const folded = foldDequantization(model);
    assert.notEqual(folded, model);
    const text = new TextDecoder('latin1').decode(folded);
    assert.ok(!text.includes('Cast') && !text.includes('w.q8'), 'Cast and the int8 weights are gone');
    const input = { x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 4, -1, 0.5, 0.25, 8), [2, 4]) };
    const run = async (bytes: Uint8Array) => {
      const session = await ort.InferenceSession.create(bytes);
      return [...((await session.run(input)).y.data as Float32Array)];
    };
    assert.deepEqual(await run(folded), await run(model));
  });

test('a model with nothing to fold comes back as it is', () => {
  const g = new Graph('plain');
  const x = g.input('x', 'float32', ['rows', 2]);
  g.output(op.mul(g, x, op.scalar(g, 2)), 'y');
  const model = exportOnnx(g);
  assert.equal(foldDequantization(model), model);
});
