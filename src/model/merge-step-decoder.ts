import type { MergeConfig } from './merge.js';
import { MERGE_PARAMS as P } from './merge.js';
import type { ParamLayout } from './params.js';
import type { DecoderState, StepDecoder } from './step-decoder.js';
import { tf } from './tf-backend.js';

interface MergeState extends DecoderState {
  readonly rows: number;
  /** rows × units each: LSTM output and cell, and the image projection added before the decoder. */
  readonly h: Float32Array;
  readonly c: Float32Array;
  readonly image: Float32Array;
}

/**
 * Inference for the merge model, one token per row per call. Weights stay on the tfjs backend; the
 * state crosses as small Float32Arrays so callers never own tensors. The embedding is pre-multiplied
 * by the LSTM input kernel (a V × 4·units table), so a step starts with a row lookup.
 */
export class MergeStepDecoder implements StepDecoder {
  readonly vocabSize: number;
  private readonly units: number;
  private readonly w: Record<string, tf.Tensor>;
  private readonly inputTable: tf.Tensor2D;

  constructor(
    private readonly config: MergeConfig,
    layout: ParamLayout,
    flat: Float32Array,
  ) {
    this.vocabSize = config.vocabSize;
    this.units = config.units;
    this.w = {};
    for (const spec of layout.specs)
      this.w[spec.name] = tf.tensor(layout.view(flat, spec.name).slice(), spec.shape);
    this.inputTable = tf.tidy(() =>
      tf.add(tf.matMul(this.w[P.embedding], this.w[P.lstmKernel]), this.w[P.lstmBias]),
    ) as tf.Tensor2D;
  }

  start(images: Float32Array[]): DecoderState {
    const rows = images.length;
    const dim = this.config.featureDim;
    const features = new Float32Array(rows * dim);
    images.forEach((v, r) => {
      if (v.length !== dim) throw new Error(`image vector has ${v.length} values, the model reads ${dim}`);
      features.set(v, r * dim);
    });
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

  step(state: DecoderState, tokens: Int32Array): { logProbs: Float32Array; state: DecoderState } {
    const s = state as MergeState;
    const { rows } = s;
    const U = this.units;
    if (tokens.length !== rows) throw new Error(`step: ${tokens.length} tokens for ${rows} rows`);
    const [logProbs, h, c] = tf.tidy(() => {
      const z = tf.add(
        tf.gather(this.inputTable, tf.tensor1d(tokens, 'int32')),
        tf.matMul(tf.tensor2d(s.h, [rows, U]), this.w[P.lstmRecurrent]),
      );
      const sig = tf.sigmoid(z);
      const gate = (k: number) => tf.slice(sig, [0, k * U], [rows, U]);
      const g = tf.tanh(tf.slice(z, [0, 2 * U], [rows, U]));
      const cell = tf.add(tf.mul(gate(1), tf.tensor2d(s.c, [rows, U])), tf.mul(gate(0), g));
      const out = tf.mul(gate(3), tf.tanh(cell));
      const merged = tf.add(out, tf.tensor2d(s.image, [rows, U]));
      const hidden = tf.relu(tf.add(tf.matMul(merged, this.w[P.decoderKernel]), this.w[P.decoderBias]));
      const logits = tf.add(tf.matMul(hidden, this.w[P.outputKernel]), this.w[P.outputBias]);
      return [tf.logSoftmax(logits), out, cell];
    });
    const next: MergeState = { rows, h: readAndDispose(h), c: readAndDispose(c), image: s.image };
    return { logProbs: readAndDispose(logProbs), state: next };
  }

  select(state: DecoderState, rows: Int32Array): DecoderState {
    const s = state as MergeState;
    const U = this.units;
    const pick = (src: Float32Array) => {
      const out = new Float32Array(rows.length * U);
      rows.forEach((r, i) => {
        if (r < 0 || r >= s.rows) throw new Error(`select: row ${r} of ${s.rows}`);
        out.set(src.subarray(r * U, (r + 1) * U), i * U);
      });
      return out;
    };
    const next: MergeState = { rows: rows.length, h: pick(s.h), c: pick(s.c), image: pick(s.image) };
    return next;
  }

  dispose(): void {
    tf.dispose(Object.values(this.w));
    this.inputTable.dispose();
  }
}

function readAndDispose(t: tf.Tensor): Float32Array {
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return data;
}
