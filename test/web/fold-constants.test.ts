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
    const folded = foldDequantization(model, 'w.weights');
    assert.ok(folded instanceof Uint8Array, 'weights this small stay in the model');
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
  assert.equal(foldDequantization(model, 'plain.weights'), model);
});

test('large weights, folded or not, leave the model as external data that onnxruntime reads: same outputs', async () => {
  const g = new Graph('external');
  const x = g.input('x', 'float32', ['rows', 64]);
  const values = Int8Array.from({ length: 64 * 32 }, (_, i) => ((i * 37) % 255) - 127);
  const q = g.constant('w.q8', 'int8', [64, 32], values);
  const s = g.constant(
    'w.scale',
    'float32',
    [1, 32],
    Float32Array.from({ length: 32 }, (_, i) => 1 / (i + 3)),
  );
  const bias = g.constant(
    'b',
    'float32',
    [32, 32],
    Float32Array.from({ length: 32 * 32 }, (_, i) => i / 7),
  );
  const y = op.matMul(g, x, op.mul(g, op.cast(g, q, 'float32'), s));
  g.output(op.add(g, op.unsqueeze(g, y, 1), bias), 'y');
  const model = exportOnnx(g);
  const folded = foldDequantization(model, 'external.weights');
  assert.ok(!(folded instanceof Uint8Array), 'the weights are apart');
  // The folded weight (64·32 floats) and the bias (32·32 floats, never folded: a view into the model).
  assert.deepEqual(folded.externalData.map((e) => [e.path, e.data.length]).sort(), [
    ['external.weights.0', 32 * 32 * 4],
    ['external.weights.1', 64 * 32 * 4],
  ]);
  assert.equal(folded.externalData[0].data.buffer, model.buffer, 'the bias is not copied');
  assert.ok(folded.model.length < 1000, `the model itself is ${folded.model.length} bytes`);
  const text = new TextDecoder('latin1').decode(folded.model);
  assert.ok(!text.includes('Cast') && text.includes('external.weights'));
  const input = {
    x: new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i)),
      [2, 64],
    ),
  };
  const plain = await ort.InferenceSession.create(model);
  const apart = await ort.InferenceSession.create(folded.model, { externalData: folded.externalData });
  assert.deepEqual(
    [...((await apart.run(input)).y.data as Float32Array)],
    [...((await plain.run(input)).y.data as Float32Array)],
  );
});
