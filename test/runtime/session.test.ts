/**
 * The session wrapper over either runtime (onnxruntime-node, and onnxruntime-web, run here in Node):
 * outputs named in `into` land in the memory given (a view into a bigger array, as the trainer's flat
 * gradient buffer), the others come back as new arrays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph } from '../../src/graph/ir.js';
import { exportOnnx } from '../../src/graph/onnx-export.js';
import * as op from '../../src/graph/ops.js';
import { floats, Session as NodeSession } from '../../src/runtime/onnx.js';
import { configureWebRuntime, Session as WebSession } from '../../src/runtime/onnx-web.js';

configureWebRuntime({ threads: 1 });

for (const [runtime, Session] of [
  ['onnxruntime-node', NodeSession],
  ['onnxruntime-web', WebSession],
] as const)
  test(`run writes the outputs named in \`into\` into views of a caller array (${runtime})`, async () => {
    const g = new Graph('into');
    const x = g.input('x', 'float32', [2, 3]);
    g.output(op.mul(g, x, op.scalar(g, 2)), 'double');
    g.output(op.add(g, x, op.scalar(g, 1)), 'plus_one');
    const session = await Session.create(exportOnnx(g));
    try {
      const flat = new Float32Array(10).fill(-1);
      const view = flat.subarray(2, 8);
      const x0 = Float32Array.of(1, 2, 3, 4, 5, 6);
      const out = await session.run({ x: { data: x0, dims: [2, 3] } }, ['double', 'plus_one'], {
        double: { data: view, dims: [2, 3] },
      });
      assert.deepEqual(Array.from(flat), [-1, -1, 2, 4, 6, 8, 10, 12, -1, -1]); // only the view is written
      assert.deepEqual(Array.from(floats(out, 'plus_one')), [2, 3, 4, 5, 6, 7]);
      // A second run overwrites the same memory.
      await session.run({ x: { data: x0.map((v) => -v), dims: [2, 3] } }, ['double'], {
        double: { data: view, dims: [2, 3] },
      });
      assert.deepEqual(Array.from(view), [-2, -4, -6, -8, -10, -12]);
    } finally {
      await session.release();
    }
  });
