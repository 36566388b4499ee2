import { tf } from './tf-backend.js';

/**
 * An LSTM over a whole teacher-forced sequence (zero initial state), gate order i, f, g, o.
 * `projected` holds x_t·W + b for every step (time-major rows t·batch + r), so only h·U is sequential.
 *
 * Why a custom op: on wasm each tfjs op costs far more than the arithmetic of one LSTM step at this
 * size (a step is ~14 ops forward and ~30 backward). Here a step is one matMul on the backend plus the
 * gate arithmetic in plain JS, backward is one matMul per step, and the recurrent kernel's gradient
 * is a single product over all steps. Autodiff still wires it into the rest of the graph.
 */
export function lstmSequence(
  projected: tf.Tensor2D,
  recurrent: tf.Tensor2D,
  steps: number,
  batch: number,
): tf.Tensor2D {
  const U = recurrent.shape[0];
  const G = 4 * U;
  const n = batch * U;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const W = args[1] as tf.Tensor2D;
    const x = (args[0] as tf.Tensor).dataSync() as Float32Array;
    const gates = new Float32Array(steps * batch * G);
    const cells = new Float32Array(steps * n);
    const tanhC = new Float32Array(steps * n);
    const hs = new Float32Array(steps * n);
    for (let t = 0; t < steps; t++) {
      const rec = t > 0 ? matMulRows(hs.subarray((t - 1) * n, t * n), batch, U, W) : undefined;
      for (let r = 0; r < batch; r++) {
        const zb = (t * batch + r) * G;
        const rb = r * G;
        const hb = t * n + r * U;
        for (let k = 0; k < U; k++) {
          const zi = x[zb + k] + (rec ? rec[rb + k] : 0);
          const zf = x[zb + U + k] + (rec ? rec[rb + U + k] : 0);
          const zg = x[zb + 2 * U + k] + (rec ? rec[rb + 2 * U + k] : 0);
          const zo = x[zb + 3 * U + k] + (rec ? rec[rb + 3 * U + k] : 0);
          const i = 1 / (1 + Math.exp(-zi));
          const f = 1 / (1 + Math.exp(-zf));
          const g = Math.tanh(zg);
          const o = 1 / (1 + Math.exp(-zo));
          const c = (t > 0 ? f * cells[hb - n + k] : 0) + i * g;
          const tc = Math.tanh(c);
          gates[zb + k] = i;
          gates[zb + U + k] = f;
          gates[zb + 2 * U + k] = g;
          gates[zb + 3 * U + k] = o;
          cells[hb + k] = c;
          tanhC[hb + k] = tc;
          hs[hb + k] = o * tc;
        }
      }
    }
    const gradFunc = (dy: tf.Tensor) => {
      const dhAll = dy.dataSync() as Float32Array;
      const dZ = new Float32Array(steps * batch * G);
      const dc = new Float32Array(n);
      const WT = tf.transpose(W);
      let dhRec: Float32Array | undefined;
      for (let t = steps - 1; t >= 0; t--) {
        for (let r = 0; r < batch; r++) {
          const zb = (t * batch + r) * G;
          const hb = t * n + r * U;
          for (let k = 0; k < U; k++) {
            const dh = dhAll[hb + k] + (dhRec ? dhRec[r * U + k] : 0);
            const i = gates[zb + k];
            const f = gates[zb + U + k];
            const g = gates[zb + 2 * U + k];
            const o = gates[zb + 3 * U + k];
            const tc = tanhC[hb + k];
            const dcell = dh * o * (1 - tc * tc) + dc[r * U + k];
            const cPrev = t > 0 ? cells[hb - n + k] : 0;
            dc[r * U + k] = dcell * f;
            dZ[zb + k] = dcell * g * i * (1 - i);
            dZ[zb + U + k] = dcell * cPrev * f * (1 - f);
            dZ[zb + 2 * U + k] = dcell * i * (1 - g * g);
            dZ[zb + 3 * U + k] = dh * tc * o * (1 - o);
          }
        }
        if (t > 0) dhRec = matMulRows(dZ.subarray(t * batch * G, (t + 1) * batch * G), batch, G, WT);
      }
      WT.dispose();
      const dProjected = tf.tensor2d(dZ, [steps * batch, G]);
      // dU = Σ_t h_{t−1}ᵀ·dz_t, as one product over all steps.
      const dW = tf.tidy(() =>
        steps > 1
          ? tf.matMul(
              tf.transpose(tf.tensor2d(hs.subarray(0, (steps - 1) * n), [(steps - 1) * batch, U])),
              tf.tensor2d(dZ.subarray(batch * G), [(steps - 1) * batch, G]),
            )
          : tf.zerosLike(W),
      );
      return [dProjected, dW];
    };
    return { value: tf.tensor2d(hs, [steps * batch, U]), gradFunc };
  });
  return op(projected, recurrent) as tf.Tensor2D;
}

/** rows × k (JS) times a k × m tensor, on the backend; result back in JS. */
function matMulRows(a: Float32Array, rows: number, k: number, w: tf.Tensor): Float32Array {
  // Not tf.tidy: it would walk the returned typed array element by element.
  const input = tf.tensor2d(a, [rows, k]);
  const product = tf.matMul(input, w);
  const out = product.dataSync() as Float32Array;
  input.dispose();
  product.dispose();
  return out;
}
