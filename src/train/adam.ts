/** Adam's state for a flat run of weights, as checkpoints store it. */
export interface AdamState {
  iterations: number;
  /** β1ᵗ and β2ᵗ so far (kept exactly, so a resumed run continues bit for bit). */
  accBeta1: number;
  accBeta2: number;
  m: Float32Array;
  v: Float32Array;
}

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-7;

/**
 * Adam (Kingma and Ba) over the flat weights, with the settings and bias correction of Keras and
 * tfjs (ε = 1e-7 added to √v̂). One fused pass per step: the gradient is scaled (mean loss, clipping)
 * as it is read, so no scaled copy is made. Plain TypeScript over typed arrays: it is memory-bound,
 * and one pass over 2.3M weights takes a few milliseconds.
 */
export class FlatAdam {
  iterations = 0;
  accBeta1 = BETA1;
  accBeta2 = BETA2;
  readonly m: Float32Array;
  readonly v: Float32Array;

  constructor(readonly size: number) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /**
   * One update of `params[offset … offset + grad.length)` from `grad`·`scale`. Call it for every
   * part of the weights, then `finishStep` once.
   */
  update(params: Float32Array, offset: number, grad: Float32Array, scale: number, learningRate: number): void {
    const { m, v } = this;
    const c1 = 1 - this.accBeta1;
    const c2 = 1 - this.accBeta2;
    for (let i = 0, j = offset; i < grad.length; i++, j++) {
      const g = grad[i] * scale;
      const mi = BETA1 * m[j] + (1 - BETA1) * g;
      const vi = BETA2 * v[j] + (1 - BETA2) * g * g;
      m[j] = mi;
      v[j] = vi;
      params[j] -= (learningRate * (mi / c1)) / (Math.sqrt(vi / c2) + EPSILON);
    }
  }

  finishStep(): void {
    this.iterations++;
    this.accBeta1 *= BETA1;
    this.accBeta2 *= BETA2;
  }

  getState(): AdamState {
    const { iterations, accBeta1, accBeta2 } = this;
    return { iterations, accBeta1, accBeta2, m: this.m.slice(), v: this.v.slice() };
  }

  setState(state: AdamState): void {
    if (state.m.length !== this.size || state.v.length !== this.size)
      throw new Error(`Adam state of ${state.m.length} weights for a model of ${this.size}`);
    this.iterations = state.iterations;
    this.accBeta1 = state.accBeta1;
    this.accBeta2 = state.accBeta2;
    this.m.set(state.m);
    this.v.set(state.v);
  }
}

/** The factor taking the summed gradient to the clipped mean-loss gradient, given that gradient's norm. */
export function clipFactor(norm: number, scale: number, clipNorm: number): number {
  return clipNorm > 0 && norm > clipNorm ? (scale * clipNorm) / norm : scale;
}
