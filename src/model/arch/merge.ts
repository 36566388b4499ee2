import type { Value } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { CaptionerError } from '../../util/errors.js';
import type { Architecture, ModelConfigBase } from '../architecture.js';
import { glorotUniform, orthogonalRows, uniform } from '../init.js';
import { dense, denseParams } from '../layers/dense.js';
import { perRow } from '../layers/image-rows.js';
import { lstmCell, lstmParams } from '../layers/lstm-cell.js';
import type { ParamSpec } from '../params.js';

/**
 * The "merge" model of the Keras tutorials: image → Dropout → Dense(relu); caption → Embedding →
 * Dropout → LSTM; add → Dense(relu) → Dense(V) softmax. Written once, as one step; training unrolls it
 * over whole captions (teacher forcing: the same per-word losses as the tutorials' prefix expansion,
 * in linear time).
 */
export interface MergeConfig extends ModelConfigBase {
  arch: 'merge';
  embedDim: number;
  /** LSTM width; also the width of the image projection it is added to. */
  units: number;
  /** Width of the Dense(relu) after the add. */
  decoderUnits: number;
  imageDropout: number;
  embedDropout: number;
  /** Gate order of the LSTM kernels' 4·units columns (PyTorch's). */
  gateOrder: 'ifgo';
}

/** Parameter names; kernels are [in, out] (x·W), as in Keras. */
export const MERGE_PARAMS = {
  imageKernel: 'image.kernel',
  imageBias: 'image.bias',
  embedding: 'embedding',
  lstmKernel: 'lstm.kernel',
  lstmRecurrent: 'lstm.recurrent_kernel',
  lstmBias: 'lstm.bias',
  decoderKernel: 'decoder.kernel',
  decoderBias: 'decoder.bias',
  outputKernel: 'output.kernel',
  outputBias: 'output.bias',
} as const;
const P = MERGE_PARAMS;

export const mergeArchitecture: Architecture<MergeConfig> = {
  name: 'merge',

  defaults(vocabSize, featureDim) {
    return {
      arch: 'merge',
      vocabSize,
      featureDim,
      embedDim: 256,
      units: 256,
      decoderUnits: 256,
      imageDropout: 0.5,
      embedDropout: 0.5,
      gateOrder: 'ifgo',
    };
  },

  validate(config) {
    const c = config as MergeConfig;
    const positive = ['vocabSize', 'featureDim', 'embedDim', 'units', 'decoderUnits'] as const;
    for (const key of positive) {
      if (!Number.isInteger(c[key]) || c[key] <= 0)
        throw new CaptionerError('MODEL_CONFIG', `merge model: ${key} must be a positive integer`);
    }
    for (const key of ['imageDropout', 'embedDropout'] as const) {
      if (!(typeof c[key] === 'number' && c[key] >= 0 && c[key] < 1))
        throw new CaptionerError('MODEL_CONFIG', `merge model: ${key} must be in [0, 1)`);
    }
    if (c.labelSmoothing !== undefined && !(c.labelSmoothing >= 0 && c.labelSmoothing < 1))
      throw new CaptionerError('MODEL_CONFIG', 'merge model: labelSmoothing must be in [0, 1)');
    if (c.gateOrder !== 'ifgo')
      throw new CaptionerError('MODEL_CONFIG', `merge model: unknown LSTM gate order ${String(c.gateOrder)}`);
    return c;
  },

  params(c): ParamSpec[] {
    return [
      ...denseParams('image', c.featureDim, c.units),
      { name: P.embedding, shape: [c.vocabSize, c.embedDim], lookup: true },
      ...lstmParams('lstm', c.embedDim, c.units),
      ...denseParams('decoder', c.units, c.decoderUnits),
      ...denseParams('output', c.decoderUnits, c.vocabSize),
    ];
  },

  init(c, layout, flat, rng) {
    // Keras defaults: glorot kernels, orthogonal recurrent kernel, U(±0.05) embedding, zero biases
    // except the forget gate's, which starts at 1.
    flat.fill(0);
    glorotUniform(layout.view(flat, P.imageKernel), c.featureDim, c.units, rng);
    uniform(layout.view(flat, P.embedding), 0.05, rng);
    glorotUniform(layout.view(flat, P.lstmKernel), c.embedDim, 4 * c.units, rng);
    orthogonalRows(layout.view(flat, P.lstmRecurrent), c.units, 4 * c.units, rng);
    layout.view(flat, P.lstmBias).fill(1, c.units, 2 * c.units);
    glorotUniform(layout.view(flat, P.decoderKernel), c.units, c.decoderUnits, rng);
    glorotUniform(layout.view(flat, P.outputKernel), c.decoderUnits, c.vocabSize, rng);
  },

  states: (c) => [
    { name: 'image', width: c.units, init: 'start', constant: true },
    { name: 'h', width: c.units, init: 'zeros', constant: false },
    { name: 'c', width: c.units, init: 'zeros', constant: false },
  ],

  start(m, c, features) {
    // [rows, featureDim] → [rows, units]
    return { image: dense(m, m.dropout(features, c.imageDropout, 'image'), 'image', 'relu') };
  },

  step(m, c, state, tokens) {
    const x = m.dropout(op.gather(m.g, m.param(P.embedding), tokens), c.embedDropout, 'embed'); // [rows, E]
    const next = lstmCell(m, 'lstm', x, state.h, state.c, c.units); // [rows, U] each
    const output: Value = op.add(m.g, next.h, perRow(m.g, state.image, next.h)); // the merge: [rows, U]
    return { state: { image: state.image, h: next.h, c: next.c }, output };
  },

  head(m, _c, output) {
    return dense(m, dense(m, output, 'decoder', 'relu'), 'output'); // [n, V]
  },
};
