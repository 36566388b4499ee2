import { scratchOf, sigmoid, transpose2d, transposeInto } from './ops.js';
import { heapView, splitRows, tensorFromScratch, tf } from './tf-backend.js';

/**
 * The LSTM op's working memory is scratchOf buffers ('lstm.*'), reused from call to call: a training
 * step would otherwise allocate several MB of Float32Arrays per step and pay for them in GC. One
 * sequence per thread is alive at a time (its gradient runs before the next forward); `owner` catches
 * any other use.
 */
let owner = 0;
let calls = 0;

/**
 * An LSTM over a whole teacher-forced sequence (zero initial state), gate order i, f, g, o, from its
 * inputs `x` (time-major rows t·batch + r) and its kernel, recurrent kernel and bias.
 *
 * Why a custom op: on wasm each tfjs op costs far more than the arithmetic of one LSTM step at this
 * size (a step is ~14 ops forward and ~30 backward). Here the input projections of all steps are one
 * product, a step is one matMul on the backend plus the gate arithmetic in plain JS, backward is one
 * matMul per step, and the three weight gradients are one product [xᵀ; h₋₁ᵀ; 1ᵀ]·dz over all steps
 * (every product repacks its right operand, dz here, so one product instead of three saves two
 * packings). Autodiff still wires it into the rest of the graph.
 */
export function lstmSequence(
  x: tf.Tensor2D,
  kernel: tf.Tensor2D,
  recurrent: tf.Tensor2D,
  bias: tf.Tensor1D,
  steps: number,
  batch: number,
): tf.Tensor2D {
  const E = kernel.shape[0];
  const U = recurrent.shape[0];
  const G = 4 * U;
  const n = batch * U;
  const rows = steps * batch;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, K, W, b] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    save([input, K, W]);
    const call = ++calls;
    owner = call;
    // gates starts as x·K + b and becomes the activations i, f, g, o in place.
    const gates = scratchOf('lstm.gates', rows * G);
    gates.set(heapView(tf.add(tf.matMul(input, K), b)));
    const cells = scratchOf('lstm.cells', steps * n);
    const tanhC = scratchOf('lstm.tanhC', steps * n);
    const hs = scratchOf('lstm.hs', steps * n);
    const none = zerosOf(batch * G);
    lstmCells(gates, none, cells, none, 0, tanhC, hs, 0, batch, U);
    for (let t = 1; t < steps; t++) {
      const product = tf.matMul(tensorFromScratch(hs.subarray((t - 1) * n, t * n), [batch, U]), W);
      lstmCells(gates, heapView(product), cells, cells, (t - 1) * n, tanhC, hs, t, batch, U);
      product.dispose();
    }
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      if (owner !== call) throw new Error('lstmSequence: another sequence ran before this gradient');
      const [xs, Ks, Ws] = saved;
      const dhAll = scratchOf('lstm.dh', steps * n);
      dhAll.set(heapView(dy));
      const dZ = scratchOf('lstm.dZ', rows * G);
      const dc = scratchOf('lstm.dc', n);
      dc.fill(0);
      const WT = transpose2d(Ws);
      let dhRec: tf.Tensor | undefined;
      for (let t = steps - 1; t >= 0; t--) {
        const rec = dhRec ? heapView(dhRec) : none;
        lstmCellsBackward(
          gates,
          t > 0 ? cells : none,
          t > 0 ? (t - 1) * n : 0,
          tanhC,
          dhAll,
          rec,
          dc,
          dZ,
          t,
          batch,
          U,
        );
        dhRec?.dispose();
        const dz = dZ.subarray(t * batch * G, (t + 1) * batch * G);
        dhRec = t > 0 ? tf.matMul(tensorFromScratch(dz, [batch, G]), WT) : undefined;
      }
      const dZt = tensorFromScratch<tf.Rank.R2>(dZ, [rows, G]);
      const dx = tf.matMul(dZt, transpose2d(Ks));
      // A = [xᵀ; h_{t−1}ᵀ (zero at t = 0); 1ᵀ], built here rather than by slow transposes.
      const a = scratchOf('lstm.a', (E + U + 1) * rows);
      transposeInto(heapView(xs), rows, E, a, 0, rows);
      const hBase = E * rows;
      for (let k = 0; k < U; k++) a.fill(0, hBase + k * rows, hBase + k * rows + batch);
      transposeInto(hs, rows - batch, U, a, hBase + batch, rows);
      a.fill(1, (E + U) * rows);
      const all = tf.matMul(tensorFromScratch(a, [E + U + 1, rows]), dZt) as tf.Tensor2D;
      const [dK, rest] = splitRows(all, E);
      const [dW, db] = splitRows(rest, U);
      return [dx, dK, dW, tf.reshape(db, [G])];
    };
    return { value: tensorFromScratch<tf.Rank.R2>(hs, [rows, U]), gradFunc };
  });
  return op(x, kernel, recurrent, bias) as tf.Tensor2D;
}

let zeros = new Float32Array(0);
/** Stand-in for h_{−1}·U, c_{−1} and the recurrent dh of the last step: the loops stay branch-free. */
function zerosOf(size: number): Float32Array {
  if (zeros.length < size) zeros = new Float32Array(size);
  return zeros;
}

/**
 * Step t of every row: z = x·W + b (in `gates`) + `rec` (h_{t−1}·U) → the activations i, f, g, o in
 * place, c and h. `prev`/`prevBase` hold c_{t−1}.
 */
function lstmCells(
  gates: Float32Array,
  rec: Float32Array,
  cells: Float32Array,
  prev: Float32Array,
  prevBase: number,
  tanhC: Float32Array,
  hs: Float32Array,
  t: number,
  batch: number,
  U: number,
): void {
  const G = 4 * U;
  const n = batch * U;
  for (let r = 0; r < batch; r++) {
    const zb = (t * batch + r) * G;
    const rb = r * G;
    const hb = t * n + r * U;
    const pb = prevBase + r * U;
    for (let k = 0; k < U; k++) {
      const i = sigmoid(gates[zb + k] + rec[rb + k]);
      const f = sigmoid(gates[zb + U + k] + rec[rb + U + k]);
      const g = Math.tanh(gates[zb + 2 * U + k] + rec[rb + 2 * U + k]);
      const o = sigmoid(gates[zb + 3 * U + k] + rec[rb + 3 * U + k]);
      const c = f * prev[pb + k] + i * g;
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

/**
 * Backward through step t: dh = dy_t + `dhRec` (dz_{t+1}·Uᵀ), dz_t into dZ, and dc carried to step
 * t − 1 in place. `prev`/`prevBase` hold c_{t−1}.
 */
function lstmCellsBackward(
  gates: Float32Array,
  prev: Float32Array,
  prevBase: number,
  tanhC: Float32Array,
  dhAll: Float32Array,
  dhRec: Float32Array,
  dc: Float32Array,
  dZ: Float32Array,
  t: number,
  batch: number,
  U: number,
): void {
  const G = 4 * U;
  const n = batch * U;
  for (let r = 0; r < batch; r++) {
    const zb = (t * batch + r) * G;
    const hb = t * n + r * U;
    const rb = r * U;
    const pb = prevBase + r * U;
    for (let k = 0; k < U; k++) {
      const dh = dhAll[hb + k] + dhRec[rb + k];
      const i = gates[zb + k];
      const f = gates[zb + U + k];
      const g = gates[zb + 2 * U + k];
      const o = gates[zb + 3 * U + k];
      const tc = tanhC[hb + k];
      const dcell = dh * o * (1 - tc * tc) + dc[rb + k];
      const cPrev = prev[pb + k];
      dc[rb + k] = dcell * f;
      dZ[zb + k] = dcell * g * i * (1 - i);
      dZ[zb + U + k] = dcell * cPrev * f * (1 - f);
      dZ[zb + 2 * U + k] = dcell * i * (1 - g * g);
      dZ[zb + 3 * U + k] = dh * tc * o * (1 - o);
    }
  }
}
