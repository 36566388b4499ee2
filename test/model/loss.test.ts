import assert from 'node:assert/strict';
import { test } from 'node:test';
import { softmaxCrossEntropySum } from '../../src/model/ops.js';
import { initTf, tf } from '../../src/model/tf-backend.js';
import { Rng } from '../../src/util/random.js';

/** The loss written out in float64: −Σ_i Σ_j target_ij · log softmax(z_i)_j. */
function reference(z: Float32Array, n: number, v: number, targets: Int32Array, eps: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from(z.subarray(i * v, (i + 1) * v));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    for (let j = 0; j < v; j++) {
      const target = (j === targets[i] ? 1 - eps : 0) + eps / v;
      loss -= target * (row[j] - lse);
    }
  }
  return loss;
}

for (const eps of [0, 0.1]) {
  test(`softmax cross-entropy (label smoothing ${eps}): value and gradient`, async () => {
    await initTf();
    const n = 5;
    const v = 7;
    const rng = new Rng(11);
    const z = Float32Array.from({ length: n * v }, () => rng.next() * 6 - 3);
    const targets = Int32Array.from({ length: n }, (_, i) => (i * 3) % v);
    const f = (x: tf.Tensor) => softmaxCrossEntropySum(x as tf.Tensor2D, targets, eps);
    const { value, grad } = tf.valueAndGrad(f)(tf.tensor2d(z, [n, v]));
    assert.ok(Math.abs(value.dataSync()[0] - reference(z, n, v, targets, eps)) < 1e-4);
    const g = grad.dataSync();
    for (let k = 0; k < n * v; k += 3) {
      const h = 1e-3;
      const up = z.slice();
      up[k] += h;
      const down = z.slice();
      down[k] -= h;
      const numeric = (reference(up, n, v, targets, eps) - reference(down, n, v, targets, eps)) / (2 * h);
      assert.ok(Math.abs(numeric - g[k]) < 1e-3, `d/dz[${k}]: analytic ${g[k]}, numeric ${numeric}`);
    }
  });
}
