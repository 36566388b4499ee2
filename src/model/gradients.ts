import * as tf from '@tensorflow/tfjs-core';
import {
  Add,
  backend_util,
  BatchMatMul,
  getGradient,
  Multiply,
  Pack,
  registerGradient,
  Relu,
  Reshape,
  Sigmoid,
  Slice,
  Tanh,
  Unpack,
  type GradConfig,
  type NamedAttrMap,
} from '@tensorflow/tfjs-core';

/**
 * Gradient formulas for the kernels our training graphs use. tfjs-core's Node bundle ships the
 * autodiff engine (tape, backprop, customGrad) but registers no gradient formulas; those come with
 * the 300 MB union package. So we register the few we need (unless something already did), and give
 * BatchMatMul a faster one: wasm runs transposeA/transposeB products 10–40× slower than plain ones,
 * so we transpose explicitly and multiply plainly. Same maths, one cheap copy.
 */
export function registerGradients(): void {
  const configs: GradConfig[] = [
    {
      kernelName: Add,
      inputsToSave: ['a', 'b'],
      gradFunc: broadcastGrad(
        (dy) => dy,
        (dy) => dy,
      ),
    },
    {
      kernelName: Multiply,
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) =>
        broadcastGrad(
          (g) => tf.mul(g, saved[1]),
          (g) => tf.mul(g, saved[0]),
        )(dy, saved, attrs),
    },
    {
      kernelName: Sigmoid,
      outputsToSave: [true],
      gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(y, tf.sub(1, y))) }),
    },
    {
      kernelName: Tanh,
      outputsToSave: [true],
      gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(y))) }),
    },
    {
      kernelName: Relu,
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.step(x)) }),
    },
    {
      kernelName: Reshape,
      inputsToSave: ['x'],
      gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }),
    },
    {
      kernelName: Slice,
      inputsToSave: ['x'],
      gradFunc: (dy, [x], attrs) => {
        const { begin } = attrs as unknown as { begin: number[] };
        const g = dy as tf.Tensor;
        const padding = x.shape.map((n, i): [number, number] => [begin[i], n - begin[i] - g.shape[i]]);
        return { x: () => tf.pad(g, padding) };
      },
    },
    {
      kernelName: Unpack,
      gradFunc: (dy, _saved, attrs) => {
        const { axis } = attrs as unknown as { axis: number };
        return { value: () => tf.stack(dy as tf.Tensor[], axis) };
      },
    },
    {
      kernelName: Pack,
      saveAllInputs: true,
      gradFunc: (dy, _saved, attrs) => {
        const { axis } = attrs as unknown as { axis: number };
        const parts = tf.unstack(dy as tf.Tensor, axis);
        const out: Record<string, () => tf.Tensor> = {};
        parts.forEach((p, i) => (out[i] = () => p));
        return out;
      },
    },
  ];
  for (const config of configs) if (!getGradient(config.kernelName)) registerGradient(config);
  const original = getGradient(BatchMatMul);
  registerGradient({
    kernelName: BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: NamedAttrMap) => {
      const [a, b] = saved;
      const g = dy as tf.Tensor;
      if (a.rank !== 2 || b.rank !== 2) {
        if (!original) throw new Error('no gradient for batched matMul');
        return original.gradFunc(dy, saved, attrs);
      }
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const T = (x: tf.Tensor) => tf.transpose(x);
      if (!transposeA && !transposeB) return { a: () => tf.matMul(g, T(b)), b: () => tf.matMul(T(a), g) };
      if (!transposeA && transposeB) return { a: () => tf.matMul(g, b), b: () => tf.matMul(T(g), a) };
      if (transposeA && !transposeB) return { a: () => tf.matMul(b, T(g)), b: () => tf.matMul(a, g) };
      return { a: () => tf.matMul(T(b), T(g)), b: () => tf.matMul(T(g), T(a)) };
    },
  });
}

/** Gradient of an elementwise binary op whose operands may have been broadcast: sum back to shape. */
function broadcastGrad(da: (dy: tf.Tensor) => tf.Tensor, db: (dy: tf.Tensor) => tf.Tensor) {
  return (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], _attrs?: NamedAttrMap) => {
    const [a, b] = saved;
    const g = dy as tf.Tensor;
    const reduce = (x: tf.Tensor, shape: number[]) => {
      const axes = backend_util.getReductionAxes(shape, x.shape);
      return tf.reshape(axes.length ? tf.sum(x, axes) : x, shape);
    };
    return { a: () => reduce(da(g), a.shape), b: () => reduce(db(g), b.shape) };
  };
}
