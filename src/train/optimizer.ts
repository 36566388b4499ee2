import type { ParamLayout } from '../model/params.js';
import { tf } from '../model/tf-backend.js';

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

/**
 * tfjs' Adam over variables that mirror the flat weights: each step takes the flat gradient, updates
 * the variables, and copies the new values back into the flat array the gradient engine reads.
 */
export class Adam {
  private readonly optimizer: tf.AdamOptimizer;
  private readonly variables: tf.Variable[];
  private readonly names: string[];

  constructor(
    private readonly layout: ParamLayout,
    private readonly params: Float32Array,
    learningRate: number,
  ) {
    const id = instance++;
    this.optimizer = tf.train.adam(learningRate, 0.9, 0.999, 1e-7);
    this.names = layout.specs.map((s) => `adam${id}/${s.name}`);
    this.variables = layout.specs.map((s, i) =>
      tf.variable(tf.tensor(layout.view(params, s.name).slice(), s.shape), true, this.names[i]),
    );
  }

  set learningRate(lr: number) {
    (this.optimizer as unknown as AdamInternals).learningRate = lr;
  }

  currentLearningRate(): number {
    return (this.optimizer as unknown as AdamInternals).learningRate;
  }

  /** One update from the final (scaled, clipped) gradient; the flat weights are updated in place. */
  step(grads: Float32Array): void {
    tf.tidy(() => {
      this.optimizer.applyGradients(
        this.layout.specs.map((s, i) => ({
          name: this.names[i],
          tensor: tf.tensor(this.layout.view(grads, s.name), s.shape),
        })),
      );
    });
    this.variables.forEach((v, i) => this.params.set(v.dataSync() as Float32Array, this.layout.offsets[i]));
  }

  /** Re-reads the flat weights into the variables (after a resume). */
  syncFromParams(): void {
    this.layout.specs.forEach((s, i) =>
      this.variables[i].assign(tf.tensor(this.layout.view(this.params, s.name), s.shape)),
    );
  }

  async getState(): Promise<AdamState> {
    const m = new Float32Array(this.layout.total);
    const v = new Float32Array(this.layout.total);
    const weights = await this.optimizer.getWeights();
    const n = this.layout.specs.length;
    const iterations = (await weights[0].tensor.data())[0];
    if (weights.length === 1 + 2 * n) {
      for (let i = 0; i < n; i++) {
        m.set((await weights[1 + i].tensor.data()) as Float32Array, this.layout.offsets[i]);
        v.set((await weights[1 + n + i].tensor.data()) as Float32Array, this.layout.offsets[i]);
      }
    }
    const internals = this.optimizer as unknown as AdamInternals;
    return {
      iterations,
      accBeta1: (await internals.accBeta1.data())[0],
      accBeta2: (await internals.accBeta2.data())[0],
      m,
      v,
    };
  }

  async setState(state: AdamState): Promise<void> {
    const weights: { name: string; tensor: tf.Tensor }[] = [
      { name: 'iter', tensor: tf.scalar(state.iterations, 'int32') },
    ];
    for (const key of ['m', 'v'] as const)
      this.layout.specs.forEach((s, i) =>
        weights.push({
          name: `${this.names[i]}/${key}`,
          tensor: tf.tensor(this.layout.view(state[key], s.name), s.shape),
        }),
      );
    await this.optimizer.setWeights(weights);
    const internals = this.optimizer as unknown as AdamInternals;
    internals.accBeta1.assign(tf.scalar(state.accBeta1));
    internals.accBeta2.assign(tf.scalar(state.accBeta2));
  }

  dispose(): void {
    this.optimizer.dispose();
    tf.dispose(this.variables);
  }
}

/** Scales the summed gradient to the mean-loss gradient and clips its global L2 norm; returns the norm. */
export function scaleAndClip(grads: Float32Array, tokens: number, clipNorm: number): number {
  const scale = 1 / Math.max(1, tokens);
  let sq = 0;
  for (let i = 0; i < grads.length; i++) {
    const g = grads[i] * scale;
    sq += g * g;
  }
  const norm = Math.sqrt(sq);
  const factor = clipNorm > 0 && norm > clipNorm ? (scale * clipNorm) / norm : scale;
  for (let i = 0; i < grads.length; i++) grads[i] *= factor;
  return norm;
}
