import { heapView, onWasmHeap, splitRows, tensorFromScratch, tf } from './tf-backend.js';

/** A grow-only scratch buffer per name: per-step temporaries without per-step allocation (and GC). */
const scratch = new Map<string, Float32Array>();
export function scratchOf(name: string, size: number): Float32Array {
  let buf = scratch.get(name);
  if (!buf || buf.length < size) scratch.set(name, (buf = new Float32Array(size)));
  return buf.subarray(0, size);
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * Rows `indices` of a rank-2 tensor (an embedding lookup, or picking the real tokens out of padded
 * steps). Done in JS on the heap: the library's gradient is UnsortedSegmentSum, which wasm lacks, and
 * its GatherV2 kernel is slow for whole rows; we copy rows forward and scatter-add them backward.
 */
export function gatherRows(x: tf.Tensor2D, indices: Int32Array): tf.Tensor2D {
  const [rows, width] = x.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const out = scratchOf('gather', indices.length * width);
    const src = heapView(args[0] as tf.Tensor);
    for (let i = 0; i < indices.length; i++) {
      const from = indices[i] * width;
      out.set(src.subarray(from, from + width), i * width);
    }
    const value = tensorFromScratch<tf.Rank.R2>(out, [indices.length, width]);
    const gradFunc = (dy: tf.Tensor) => {
      // On wasm, scatter straight into the heap of a fresh zero tensor (both views are taken after
      // the last allocation, so they stay valid for the loop).
      const grad = onWasmHeap() ? tf.fill([rows, width], 0) : undefined;
      const acc = grad ? heapView(grad) : new Float32Array(rows * width);
      const g = heapView(dy);
      for (let i = 0; i < indices.length; i++) {
        const s = i * width;
        const d = indices[i] * width;
        for (let k = 0; k < width; k++) acc[d + k] += g[s + k];
      }
      return grad ?? tf.tensor2d(acc, [rows, width]);
    };
    return { value, gradFunc };
  });
  return op(x) as tf.Tensor2D;
}

/**
 * xᵀ on the heap by cache blocks (the wasm Transpose kernel is ~3× slower on these shapes), with
 * `extraRows` rows of ones appended: [xᵀ; 1ᵀ]·g gives dW and the bias gradient in one product.
 */
export function transpose2d(x: tf.Tensor, extraRows = 0): tf.Tensor2D {
  const [r, c] = x.shape as [number, number];
  const out = scratchOf('transpose', (c + extraRows) * r);
  transposeInto(heapView(x), r, c, out, 0, r);
  out.fill(1, c * r);
  return tensorFromScratch<tf.Rank.R2>(out, [c + extraRows, r]);
}

/** dst[offset + j·stride + i] = src[i·cols + j] for i < rows, j < cols, by cache blocks. */
export function transposeInto(
  src: Float32Array,
  rows: number,
  cols: number,
  dst: Float32Array,
  offset: number,
  stride: number,
): void {
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const s = i * cols;
        for (let j = j0; j < j1; j++) dst[offset + j * stride + i] = src[s + j];
      }
    }
  }
}

/**
 * x·W + b, optionally through relu, as one op with its own gradient: dx = g·Wᵀ and dW = xᵀ·g as plain
 * products (wasm's transposed products are 10–40× slower), and dW with db = 1ᵀ·g as one product
 * [xᵀ; 1ᵀ]·g: the Sum kernel transposes first, and every product repacks its right operand (g here),
 * which costs as much as a fifth of the product. Saves only what backward reads (Add would save
 * copies of the whole output). `inputGrad: false` when x is data, not a function of the weights: dx is then not computed.
 */
export function dense(
  x: tf.Tensor2D,
  kernel: tf.Tensor2D,
  bias: tf.Tensor1D,
  options: { relu?: boolean; inputGrad?: boolean } = {},
): tf.Tensor2D {
  const relu = options.relu ?? false;
  const inputGrad = options.inputGrad ?? true;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, W, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const z = tf.add(tf.matMul(input, W), b);
    const value = relu ? tf.relu(z) : z;
    save(relu ? [input, W, value] : [input, W]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, Ws, ys] = saved;
      // relu(z) > 0 exactly where z > 0, so step(relu(z)) is relu's gradient mask step(z).
      const g = relu ? tf.mul(dy, tf.step(ys)) : dy;
      const width = g.shape[1] as number;
      const dx = inputGrad ? tf.matMul(g, transpose2d(Ws)) : tf.fill(xs.shape, 0);
      const inWidth = xs.shape[1] as number;
      const [dW, db] = splitRows(tf.matMul(transpose2d(xs, 1), g) as tf.Tensor2D, inWidth);
      return [dx, dW, tf.reshape(db, [width])];
    };
    return { value, gradFunc };
  });
  return op(x, kernel, bias) as tf.Tensor2D;
}

/**
 * Σ −log softmax(logits)[i, targets[i]] over rows, with its gradient (softmax − one-hot) built from
 * the same softmax: targets are indexed, never expanded into one-hot products. With label smoothing ε
 * the target is (1−ε)·one-hot + ε/V: loss −(1−ε)·log p_t − ε·mean_j log p_j, gradient p − target.
 */
export function softmaxCrossEntropySum(logits: tf.Tensor2D, targets: Int32Array, smoothing = 0): tf.Scalar {
  const [n, v] = logits.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const probs = tf.softmax(input);
    save([probs]);
    const p = heapView(probs);
    // −log p_t per row (float64 where float32 underflowed).
    const nll = new Float64Array(n);
    const underflow: number[] = [];
    for (let i = 0; i < n; i++) {
      const q = p[i * v + targets[i]];
      if (q > 1e-30) nll[i] = -Math.log(q);
      else underflow.push(i);
    }
    if (underflow.length) {
      const raw = input.dataSync() as Float32Array;
      for (const i of underflow) nll[i] = exactNll(raw, i, v, targets[i]);
    }
    let loss = 0;
    for (let i = 0; i < n; i++) loss += nll[i];
    if (smoothing > 0) {
      // mean_j log p_j = mean_j z_j − lse, and lse = z_t + nll_t.
      const z = heapView(input);
      let smooth = 0;
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let j = i * v; j < (i + 1) * v; j++) sum += z[j];
        smooth += z[i * v + targets[i]] + nll[i] - sum / v;
      }
      loss = (1 - smoothing) * loss + smoothing * smooth;
    }
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      // On wasm the saved softmax is our own copy: turn it into softmax − target in place on the heap.
      const own = onWasmHeap();
      const g = own ? heapView(saved[0]) : (saved[0].dataSync() as Float32Array).slice();
      if (smoothing > 0) {
        const uniform = smoothing / v;
        for (let k = 0; k < n * v; k++) g[k] -= uniform;
      }
      for (let i = 0; i < n; i++) g[i * v + targets[i]] -= 1 - smoothing;
      return tf.mul(own ? saved[0] : tf.tensor2d(g, [n, v]), dy);
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
