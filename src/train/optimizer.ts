import { heapView, tf } from '../model/tf-backend.js';

export interface AdamState {
  iterations: number;
  /** The optimizer's running β1ᵗ, β2ᵗ (kept exactly so a resumed run continues bit for bit). */
  accBeta1: number;
  accBeta2: number;
  m: Float32Array;
  v: Float32Array;
}

interface AdamInternals {
  learningRate: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

let instance = 0;

/** Floats per chunk: ~15 temporaries of this size stay in a core's L2 cache. */
const CHUNK = 1 << 17;

/**
 * tfjs' Adam over a flat run of weights (all of them, or one worker's share). Adam is elementwise, so
 * flat slices get exactly the update per-tensor variables would. The run is cut into chunks, each its
 * own variable and optimizer stepped in its own tidy: the ~15 elementwise ops of a step then reuse
 * cache-resident buffers instead of streaming 15 fresh multi-MB arrays through memory.
 * It reads the weights once, at construction; each step writes the updated values back into the flat
 * array, which nothing else may change in between.
 */
export class FlatAdam {
  private readonly chunks: {
    begin: number;
    end: number;
    name: string;
    optimizer: tf.AdamOptimizer;
    variable: tf.Variable;
  }[] = [];

  constructor(
    private readonly params: Float32Array,
    learningRate: number,
    chunk = CHUNK,
  ) {
    const id = instance++;
    for (let begin = 0, k = 0; begin < params.length || k === 0; begin += chunk, k++) {
      const end = Math.min(params.length, begin + chunk);
      const name = `adam${id}/${k}`;
      this.chunks.push({
        begin,
        end,
        name,
        optimizer: tf.train.adam(learningRate, 0.9, 0.999, 1e-7),
        variable: tf.variable(tf.tensor1d(params.slice(begin, end)), true, name),
      });
    }
  }

  set learningRate(lr: number) {
    for (const c of this.chunks) (c.optimizer as unknown as AdamInternals).learningRate = lr;
  }

  get learningRate(): number {
    return (this.chunks[0].optimizer as unknown as AdamInternals).learningRate;
  }

  /** One update from the final (scaled, clipped) gradient; the flat weights are updated in place. */
  step(grads: Float32Array): void {
    for (const c of this.chunks) {
      tf.tidy(() => {
        c.optimizer.applyGradients([{ name: c.name, tensor: tf.tensor1d(grads.subarray(c.begin, c.end)) }]);
      });
      this.params.set(heapView(c.variable), c.begin);
    }
  }

  /** The state as one flat m and v; every chunk has taken the same steps, so one β1ᵗ, β2ᵗ. */
  async getState(): Promise<AdamState> {
    const n = this.params.length;
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    let iterations = 0;
    for (const c of this.chunks) {
      const weights = await c.optimizer.getWeights(); // [iter, m, v], or [iter] before any step
      iterations = (await weights[0].tensor.data())[0];
      if (weights.length === 3) {
        m.set((await weights[1].tensor.data()) as Float32Array, c.begin);
        v.set((await weights[2].tensor.data()) as Float32Array, c.begin);
      }
    }
    const internals = this.chunks[0].optimizer as unknown as AdamInternals;
    return {
      iterations,
      accBeta1: (await internals.accBeta1.data())[0],
      accBeta2: (await internals.accBeta2.data())[0],
      m,
      v,
    };
  }

  async setState(state: AdamState): Promise<void> {
    for (const c of this.chunks) {
      await c.optimizer.setWeights([
        { name: 'iter', tensor: tf.scalar(state.iterations, 'int32') },
        { name: `${c.name}/m`, tensor: tf.tensor1d(state.m.slice(c.begin, c.end)) },
        { name: `${c.name}/v`, tensor: tf.tensor1d(state.v.slice(c.begin, c.end)) },
      ]);
      const internals = c.optimizer as unknown as AdamInternals;
      internals.accBeta1.assign(tf.scalar(state.accBeta1));
      internals.accBeta2.assign(tf.scalar(state.accBeta2));
    }
  }

  dispose(): void {
    for (const c of this.chunks) {
      c.optimizer.dispose();
      c.variable.dispose();
    }
  }
}

/** Σ (g·scale)² over a run of the summed gradient, in float64. */
export function scaledSquares(grads: Float32Array, scale: number): number {
  let sq = 0;
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i] * scale;
    sq += g * g;
  }
  return sq;
}

/** The factor taking the summed gradient to the clipped mean-loss gradient, given that gradient's norm. */
export function clipFactor(norm: number, scale: number, clipNorm: number): number {
  return clipNorm > 0 && norm > clipNorm ? (scale * clipNorm) / norm : scale;
}

/** Scales the summed gradient to the mean-loss gradient and clips its global L2 norm; returns the norm. */
export function scaleAndClip(grads: Float32Array, tokens: number, clipNorm: number): number {
  const scale = 1 / Math.max(1, tokens);
  const norm = Math.sqrt(scaledSquares(grads, scale));
  const factor = clipFactor(norm, scale, clipNorm);
  for (let i = 0; i < grads.length; i++) grads[i] *= factor;
  return norm;
}
