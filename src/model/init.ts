import type { Rng } from '../util/random.js';

/** Keras' default for Dense and LSTM input kernels: U(±√(6 / (fanIn + fanOut))). */
export function glorotUniform(out: Float32Array, fanIn: number, fanOut: number, rng: Rng): void {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-limit, limit);
}

export function uniform(out: Float32Array, limit: number, rng: Rng): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-limit, limit);
}

/**
 * Keras' recurrent-kernel default: a rows × cols matrix (rows ≤ cols) with orthonormal rows, from
 * Gram–Schmidt on Gaussian rows (computed in float64).
 */
export function orthogonalRows(out: Float32Array, rows: number, cols: number, rng: Rng): void {
  if (rows > cols) throw new Error('orthogonalRows needs rows ≤ cols');
  const m = new Float64Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = rng.normal();
  for (let r = 0; r < rows; r++) {
    const v = m.subarray(r * cols, (r + 1) * cols);
    for (let pass = 0; pass < 2; pass++) {
      for (let q = 0; q < r; q++) {
        const u = m.subarray(q * cols, (q + 1) * cols);
        let dot = 0;
        for (let k = 0; k < cols; k++) dot += u[k] * v[k];
        for (let k = 0; k < cols; k++) v[k] -= dot * u[k];
      }
    }
    let norm = 0;
    for (let k = 0; k < cols; k++) norm += v[k] * v[k];
    norm = Math.sqrt(norm);
    for (let k = 0; k < cols; k++) v[k] /= norm;
  }
  for (let i = 0; i < m.length; i++) out[i] = m[i];
}
