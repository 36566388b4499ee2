import { BETA1, BETA2, createAdamKernel, type AdamKernelFunction } from './adam-kernel.js';

/** Adam's state for a flat run of weights, as checkpoints store it. */
export interface AdamState {
  iterations: number;
  /** β1ᵗ and β2ᵗ so far (kept exactly, so a resumed run continues bit for bit). */
  accBeta1: number;
  accBeta2: number;
  m: Float32Array;
  v: Float32Array;
}

const EPSILON = 1e-7;

/** Weights per call of the kernel when the gradient (or the weights) must be copied into its memory. */
const CHUNK = 16384;

export interface FlatAdamOptions {
  /** Use the WebAssembly SIMD kernel where available (default true); false for the plain JS loop. */
  simd?: boolean;
}

/**
 * Adam (Kingma and Ba) over the flat weights, with the settings and bias correction of Keras and
 * tfjs (ε = 1e-7 added to √v̂). One fused pass per step: the gradient is scaled (mean loss, clipping)
 * as it is read, so no scaled copy is made.
 *
 * The pass runs in a WebAssembly SIMD kernel (`adam-kernel.ts`: V8 does not vectorize typed-array
 * loops) in float32, or, where WebAssembly SIMD is missing, in the plain JS loop `adamReference` in
 * float64; the two differ by float32 rounding only.
 *
 * The kernel works in its own memory, allocated whole at construction and never grown (growing would
 * detach every view of it): `m`, `v`, and room for the weights (`params`) and for a gradient
 * (`grads`). Weights passed to `update` that are a view of that memory (`params`, or a subarray) are
 * updated in place; others are copied in and back out by cache-sized chunks (a third slower for 2.3M
 * weights, still ~4× the JS loop). Likewise a gradient is read in place if it is a view of that memory
 * (`grads`), else copied in by chunks (one `set` each, hot in cache when the kernel reads it).
 */
export class FlatAdam {
  iterations = 0;
  accBeta1 = BETA1;
  accBeta2 = BETA2;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /**
   * Room for the weights in the kernel's memory (zeros at first). Keep the model's flat weights here
   * and pass this array to `update`: the kernel then updates them in place, with no copy in or out.
   */
  readonly params: Float32Array;
  /**
   * Room for a gradient of all the weights in the kernel's memory. A runtime that writes its outputs
   * into given arrays (onnxruntime's pre-allocated outputs) can put the gradients here; passing
   * `grads.subarray(offset, offset + n)` to `update` then skips the gradient copy too.
   */
  readonly grads: Float32Array;
  private readonly kernel: AdamKernelFunction | null = null;
  private readonly memory: ArrayBuffer | null = null;
  /** Chunks of the kernel's memory for the gradient and the weights when they must be copied in. */
  private readonly gradChunk: Float32Array | null = null;
  private readonly paramChunk: Float32Array | null = null;

  constructor(
    readonly size: number,
    options: FlatAdamOptions = {},
  ) {
    // The kernel's memory: m, v, params, grads (16-byte-aligned runs of `size`), then the copy chunks.
    const run = Math.ceil(size / 4) * 16;
    const kernel = options.simd === false ? null : createAdamKernel(4 * run + 2 * CHUNK * 4);
    if (kernel) {
      const { memory } = kernel;
      const view = (start: number, length: number) => new Float32Array(memory, start, length);
      this.kernel = kernel.adam;
      this.memory = memory;
      this.m = view(0, size);
      this.v = view(run, size);
      this.params = view(2 * run, size);
      this.grads = view(3 * run, size);
      this.gradChunk = view(4 * run, CHUNK);
      this.paramChunk = view(4 * run + CHUNK * 4, CHUNK);
    } else {
      this.m = new Float32Array(size);
      this.v = new Float32Array(size);
      this.params = new Float32Array(size);
      this.grads = new Float32Array(size);
    }
  }

  /** Whether `update` runs the WebAssembly SIMD kernel (else the plain JS loop). */
  get simd(): boolean {
    return this.kernel !== null;
  }

  /**
   * One update of `params[offset … offset + grad.length)` from `grad`·`scale`. Call it for every
   * part of the weights, then `finishStep` once.
   */
  update(
    params: Float32Array,
    offset: number,
    grad: Float32Array,
    scale: number,
    learningRate: number,
  ): void {
    const n = grad.length;
    if (offset < 0 || offset + n > this.size || offset + n > params.length)
      throw new RangeError(`Adam update of [${offset}, ${offset + n}) outside ${this.size} weights`);
    // lr·(m/c1)/(√(v/c2) + ε) = step·m/(√v + ε·√c2): one square root and one division per weight.
    const c2Root = Math.sqrt(1 - this.accBeta2);
    const stepSize = (learningRate * c2Root) / (1 - this.accBeta1);
    const epsilon = EPSILON * c2Root;
    const { kernel, gradChunk, paramChunk } = this;
    if (!kernel || !gradChunk || !paramChunk) {
      adamReference(params, offset, grad, this.m, this.v, scale, stepSize, epsilon);
      return;
    }
    const mAt = this.m.byteOffset + offset * 4;
    const vAt = this.v.byteOffset + offset * 4;
    const paramsInside = params.buffer === this.memory;
    const gradInside = grad.buffer === this.memory;
    const pAt = params.byteOffset + offset * 4;
    if (paramsInside && gradInside) {
      kernel(pAt, mAt, vAt, grad.byteOffset, n, scale, stepSize, epsilon);
      return;
    }
    for (let i = 0; i < n; i += CHUNK) {
      const k = Math.min(CHUNK, n - i);
      let g = grad.byteOffset + i * 4;
      if (!gradInside) {
        gradChunk.set(k === n ? grad : grad.subarray(i, i + k));
        g = gradChunk.byteOffset;
      }
      if (paramsInside) {
        kernel(pAt + i * 4, mAt + i * 4, vAt + i * 4, g, k, scale, stepSize, epsilon);
      } else {
        const at = offset + i;
        paramChunk.set(params.subarray(at, at + k));
        kernel(paramChunk.byteOffset, mAt + i * 4, vAt + i * 4, g, k, scale, stepSize, epsilon);
        params.set(k === CHUNK ? paramChunk : paramChunk.subarray(0, k), at);
      }
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

/**
 * The plain JS loop (float64 arithmetic, V8 does not vectorize it): the fallback without WebAssembly
 * SIMD, and the reference the kernel is tested against. Bias corrections already folded into
 * `stepSize` = lr·√(1−β2ᵗ)/(1−β1ᵗ) and `epsilon` = ε·√(1−β2ᵗ).
 */
export function adamReference(
  params: Float32Array,
  offset: number,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  scale: number,
  stepSize: number,
  epsilon: number,
): void {
  for (let i = 0, j = offset; i < grad.length; i++, j++) {
    const g = grad[i] * scale;
    const mi = BETA1 * m[j] + (1 - BETA1) * g;
    const vi = BETA2 * v[j] + (1 - BETA2) * g * g;
    m[j] = mi;
    v[j] = vi;
    params[j] -= (stepSize * mi) / (Math.sqrt(vi) + epsilon);
  }
}
