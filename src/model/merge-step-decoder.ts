import type { MergeConfig } from './merge.js';
import { MERGE_PARAMS as P } from './merge.js';
import { sigmoid } from './ops.js';
import type { ParamLayout } from './params.js';
import {
  checkStepTokens,
  packRows,
  pickRows,
  type DecoderState,
  type StepDecoder,
  type StepResult,
} from './step-decoder.js';
import { tf } from './tf-backend.js';

interface MergeState extends DecoderState {
  readonly rows: number;
  /** rows × units each: LSTM output and cell, and the image projection added before the decoder. */
  readonly h: Float32Array;
  readonly c: Float32Array;
  readonly image: Float32Array;
}

/**
 * Inference for the merge model, one token per row per call. The three products (recurrent, decoder,
 * output) run on the tfjs backend against weights that stay there; the rest of a step (a few rows ×
 * 256 values: gates, bias, relu, log-softmax) is plain JS, because at this size each tfjs op costs more
 * in overhead than in arithmetic. The embedding is pre-multiplied by the LSTM input kernel
 * (mergeInputTable), so a step starts with a row lookup. State crosses as small Float32Arrays, so
 * callers never own tensors.
 */
export class MergeStepDecoder implements StepDecoder {
  readonly vocabSize: number;
  private readonly units: number;
  private readonly w: Record<string, tf.Tensor>;
  /** Embedding · LSTM input kernel + LSTM bias: V × 4·units. */
  private readonly inputTable: Float32Array;
  private readonly decoderBias: Float32Array;
  private readonly outputBias: Float32Array;

  constructor(
    private readonly config: MergeConfig,
    layout: ParamLayout,
    flat: Float32Array,
  ) {
    this.vocabSize = config.vocabSize;
    this.units = config.units;
    this.w = {};
    for (const name of [P.imageKernel, P.imageBias, P.lstmRecurrent, P.decoderKernel, P.outputKernel]) {
      this.w[name] = tf.tensor(layout.view(flat, name).slice(), layout.spec(name).shape);
    }
    this.inputTable = mergeInputTable(config, layout, flat);
    this.decoderBias = layout.view(flat, P.decoderBias).slice();
    this.outputBias = layout.view(flat, P.outputBias).slice();
  }

  async start(images: Float32Array[]): Promise<DecoderState> {
    const rows = images.length;
    const dim = this.config.featureDim;
    const features = packRows(images, dim);
    const image = tf.tidy(() =>
      tf.relu(
        tf.add(tf.matMul(tf.tensor2d(features, [rows, dim]), this.w[P.imageKernel]), this.w[P.imageBias]),
      ),
    );
    const state: MergeState = {
      rows,
      h: new Float32Array(rows * this.units),
      c: new Float32Array(rows * this.units),
      image: readAndDispose(image),
    };
    return state;
  }

  async step(state: DecoderState, tokens: Int32Array): Promise<StepResult> {
    const s = state as MergeState;
    const { rows } = s;
    const U = this.units;
    const G = 4 * U;
    checkStepTokens(tokens, rows, this.vocabSize);
    const recurrent = product(s.h, rows, U, this.w[P.lstmRecurrent]);
    const h = new Float32Array(rows * U);
    const c = new Float32Array(rows * U);
    const merged = new Float32Array(rows * U);
    for (let r = 0; r < rows; r++) {
      const x = tokens[r] * G;
      const z = r * G;
      for (let k = 0; k < U; k++) {
        const i = sigmoid(this.inputTable[x + k] + recurrent[z + k]);
        const f = sigmoid(this.inputTable[x + U + k] + recurrent[z + U + k]);
        const g = Math.tanh(this.inputTable[x + 2 * U + k] + recurrent[z + 2 * U + k]);
        const o = sigmoid(this.inputTable[x + 3 * U + k] + recurrent[z + 3 * U + k]);
        const j = r * U + k;
        c[j] = f * s.c[j] + i * g;
        h[j] = o * Math.tanh(c[j]);
        merged[j] = h[j] + s.image[j];
      }
    }
    const hidden = product(merged, rows, U, this.w[P.decoderKernel]);
    const D = this.decoderBias.length;
    for (let j = 0; j < hidden.length; j++) hidden[j] = Math.max(0, hidden[j] + this.decoderBias[j % D]);
    const logProbs = product(hidden, rows, D, this.w[P.outputKernel]);
    const V = this.vocabSize;
    for (let r = 0; r < rows; r++) {
      let max = -Infinity;
      for (let v = 0; v < V; v++) {
        const l = (logProbs[r * V + v] += this.outputBias[v]);
        if (l > max) max = l;
      }
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(logProbs[r * V + v] - max);
      const lse = max + Math.log(sum);
      for (let v = 0; v < V; v++) logProbs[r * V + v] -= lse;
    }
    const next: MergeState = { rows, h, c, image: s.image };
    return { logProbs, state: next };
  }

  select(state: DecoderState, rows: Int32Array): DecoderState {
    const s = state as MergeState;
    const pick = (src: Float32Array) => pickRows(src, this.units, s.rows, rows);
    const next: MergeState = { rows: rows.length, h: pick(s.h), c: pick(s.c), image: pick(s.image) };
    return next;
  }

  dispose(): void {
    tf.dispose(Object.values(this.w));
  }
}

/** rows × k (JS) times a k × m weight tensor on the backend; the result back in JS. */
function product(a: Float32Array, rows: number, k: number, w: tf.Tensor): Float32Array {
  const input = tf.tensor2d(a, [rows, k]);
  const out = tf.matMul(input, w);
  input.dispose();
  return readAndDispose(out);
}

/**
 * Embedding · LSTM input kernel + LSTM bias (V × 4·units): a step's input contribution is then one row
 * lookup instead of a product.
 */
export function mergeInputTable(config: MergeConfig, layout: ParamLayout, flat: Float32Array): Float32Array {
  return readAndDispose(
    tf.tidy(() =>
      tf.add(
        tf.matMul(
          tf.tensor2d(layout.view(flat, P.embedding), [config.vocabSize, config.embedDim]),
          tf.tensor2d(layout.view(flat, P.lstmKernel), [config.embedDim, 4 * config.units]),
        ),
        tf.tensor1d(layout.view(flat, P.lstmBias)),
      ),
    ),
  );
}

function readAndDispose(t: tf.Tensor): Float32Array {
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}
