import { tf } from './tf-backend.js';

/**
 * Rows `indices` of a rank-2 tensor (an embedding lookup, or picking the real tokens out of padded
 * steps). The library's gradient is UnsortedSegmentSum, which wasm lacks; we scatter-add in JS instead.
 */
export function gatherRows(x: tf.Tensor2D, indices: Int32Array): tf.Tensor2D {
  const [rows, width] = x.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    const value = tf.gather(input, tf.tensor1d(indices, 'int32')) as tf.Tensor2D;
    const gradFunc = (dy: tf.Tensor) => {
      const g = dy.dataSync() as Float32Array;
      const out = new Float32Array(rows * width);
      for (let i = 0; i < indices.length; i++) {
        const src = i * width;
        const dst = indices[i] * width;
        for (let k = 0; k < width; k++) out[dst + k] += g[src + k];
      }
      return tf.tensor2d(out, [rows, width]);
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * Σ −log softmax(logits)[i, targets[i]] over rows, with its gradient (softmax − one-hot) built from
 * the same softmax: targets are indexed, never expanded into one-hot products.
 */
export function softmaxCrossEntropySum(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const [n, v] = logits.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    const probs = tf.softmax(input);
    const p = probs.dataSync() as Float32Array;
    probs.dispose();
    let loss = 0;
    let raw: Float32Array | undefined;
    for (let i = 0; i < n; i++) {
      const q = p[i * v + targets[i]];
      if (q > 1e-30) loss -= Math.log(q);
      else loss += exactNll((raw ??= input.dataSync() as Float32Array), i, v, targets[i]);
    }
    const gradFunc = (dy: tf.Tensor) => {
      const g = p.slice();
      for (let i = 0; i < n; i++) g[i * v + targets[i]] -= 1;
      return tf.mul(tf.tensor2d(g, [n, v]), dy);
    };
    return { value: tf.scalar(loss), gradFunc };
  });
  return op(logits) as tf.Scalar;
}

/** −log softmax for one row in float64, for targets whose float32 probability underflowed. */
function exactNll(logits: Float32Array, row: number, v: number, target: number): number {
  let max = -Infinity;
  for (let j = 0; j < v; j++) max = Math.max(max, logits[row * v + j]);
  let sum = 0;
  for (let j = 0; j < v; j++) sum += Math.exp(logits[row * v + j] - max);
  return max + Math.log(sum) - logits[row * v + target];
}
