import * as tf from '@tensorflow/tfjs-core';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { registerGradients } from './gradients.js';

export type BackendName = 'wasm' | 'cpu';

let ready: Promise<BackendName> | undefined;

/**
 * Picks the tfjs backend once per thread: wasm (SIMD kernels), or the pure-JS cpu backend when wasm
 * cannot start or CAPTIONER_BACKEND=cpu. Also registers the gradient formulas training needs.
 */
export function initTf(preferred?: BackendName): Promise<BackendName> {
  ready ??= (async () => {
    tf.env().set('IS_TEST', false);
    tf.env().set('PROD', true);
    registerGradients();
    const want = preferred ?? (process.env.CAPTIONER_BACKEND as BackendName | undefined) ?? 'wasm';
    if (want === 'wasm') {
      try {
        if (await tf.setBackend('wasm')) {
          await tf.ready();
          return 'wasm';
        }
      } catch (error) {
        process.stderr.write(`captioner: warning: wasm backend unavailable (${(error as Error).message})\n`);
      }
      process.stderr.write('captioner: warning: falling back to the slow cpu backend\n');
    }
    await tf.setBackend('cpu');
    await tf.ready();
    return 'cpu';
  })();
  return ready;
}

/**
 * A float32 tensor's values without a copy where the backend allows it: on wasm a view into the heap,
 * which is only valid until the next tensor allocation (the heap may grow), so read it at once.
 * Saves the multi-MB copies (and their GC) that dataSync makes.
 */
export function heapView(t: tf.Tensor): Float32Array {
  const backend = tf.backend();
  if (backend instanceof BackendWasm) return backend.typedArrayFromHeap(t) as Float32Array;
  return t.dataSync() as Float32Array;
}

/** Whether tensors live on the wasm heap, so a tensor we own may be written through `heapView`. */
export function onWasmHeap(): boolean {
  return tf.backend() instanceof BackendWasm;
}

/**
 * A tensor from a scratch buffer the caller will overwrite later: wasm copies the values into its
 * heap at once; the cpu backend keeps the array, so it gets its own copy.
 */
export function tensorFromScratch<R extends tf.Rank>(values: Float32Array, shape: number[]): tf.Tensor<R> {
  const copy = onWasmHeap() ? values : values.slice();
  return tf.tensor(copy, shape as tf.ShapeMap[R]) as tf.Tensor<R>;
}

export { tf };

/**
 * The first `rows` rows of a matrix and the rest, as two tensors. On wasm a heap-to-heap copy: the
 * Slice kernel goes through readSync, a multi-MB JS copy per call.
 */
export function splitRows(x: tf.Tensor2D, rows: number): [tf.Tensor2D, tf.Tensor2D] {
  const [r, c] = x.shape;
  if (!onWasmHeap()) return [tf.slice(x, [0, 0], [rows, c]), tf.slice(x, [rows, 0], [r - rows, c])];
  const top = tf.fill([rows, c], 0) as tf.Tensor2D;
  const bottom = tf.fill([r - rows, c], 0) as tf.Tensor2D;
  // Views taken after the last allocation.
  const src = heapView(x);
  heapView(top).set(src.subarray(0, rows * c));
  heapView(bottom).set(src.subarray(rows * c));
  return [top, bottom];
}
