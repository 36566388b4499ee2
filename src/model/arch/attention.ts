import * as op from '../../graph/ops.js';
import { CaptionerError } from '../../util/errors.js';
import type { Architecture, ModelConfigBase } from '../architecture.js';
import { glorotUniform, orthogonalRows, uniform } from '../init.js';
import { dense, denseParams } from '../layers/dense.js';
import { lstmCell, lstmParams } from '../layers/lstm-cell.js';
import { attentionKeys, attentionParams, softAttention } from '../layers/soft-attention.js';
import type { ParamSpec } from '../params.js';

/**
 * Show, Attend and Tell (Xu et al. 2015), soft attention: at every word the LSTM looks at the R
 * regions of the CNN's last spatial map (7×7 = 49 for MobileNetV2 at 224 px) through additive
 * attention, gated by a scalar β = σ(w·h), and reads [word embedding; β·context]. The state starts
 * from the mean region through two small layers. The weights α of each step are what the heatmaps
 * show.
 */
export interface AttentionConfig extends ModelConfigBase {
  arch: 'attention';
  /** Regions of the spatial map (H·W); featureDim is its channels. */
  regions: number;
  embedDim: number;
  units: number;
  attentionDim: number;
  /** Dropout on the embedding and before the output layer. */
  dropout: number;
  gateOrder: 'ifgo';
}

const P = {
  initH: 'init_h',
  initC: 'init_c',
  attention: 'attention',
  gate: 'gate',
  embedding: 'embedding',
  lstm: 'lstm',
  contextKernel: 'lstm.context_kernel',
  output: 'output',
} as const;

export const attentionArchitecture: Architecture<AttentionConfig> = {
  name: 'attention',

  defaults(vocabSize, featureDim) {
    return {
      arch: 'attention',
      vocabSize,
      featureDim,
      regions: 49,
      embedDim: 256,
      units: 384,
      attentionDim: 256,
      dropout: 0.5,
      attentionPenalty: 1,
      gateOrder: 'ifgo',
    };
  },

  validate(config) {
    const c = config as AttentionConfig;
    for (const key of ['vocabSize', 'featureDim', 'regions', 'embedDim', 'units', 'attentionDim'] as const)
      if (!Number.isInteger(c[key]) || c[key] <= 0)
        throw new CaptionerError('MODEL_CONFIG', `attention model: ${key} must be a positive integer`);
    if (!(typeof c.dropout === 'number' && c.dropout >= 0 && c.dropout < 1))
      throw new CaptionerError('MODEL_CONFIG', 'attention model: dropout must be in [0, 1)');
    if (c.labelSmoothing !== undefined && !(c.labelSmoothing >= 0 && c.labelSmoothing < 1))
      throw new CaptionerError('MODEL_CONFIG', 'attention model: labelSmoothing must be in [0, 1)');
    if (c.attentionPenalty !== undefined && !(c.attentionPenalty >= 0))
      throw new CaptionerError('MODEL_CONFIG', 'attention model: attentionPenalty must be ≥ 0');
    if (c.gateOrder !== 'ifgo')
      throw new CaptionerError(
        'MODEL_CONFIG',
        `attention model: unknown LSTM gate order ${String(c.gateOrder)}`,
      );
    return c;
  },

  params(c): ParamSpec[] {
    return [
      ...denseParams(P.initH, c.featureDim, c.units),
      ...denseParams(P.initC, c.featureDim, c.units),
      ...attentionParams(P.attention, c.featureDim, c.units, c.attentionDim),
      ...denseParams(P.gate, c.units, 1),
      { name: P.embedding, shape: [c.vocabSize, c.embedDim], lookup: true },
      ...lstmParams(P.lstm, c.embedDim, c.units),
      { name: P.contextKernel, shape: [c.featureDim, 4 * c.units] },
      ...denseParams(P.output, c.units, c.vocabSize),
    ];
  },

  init(c, layout, flat, rng) {
    flat.fill(0);
    const F = c.featureDim;
    glorotUniform(layout.view(flat, `${P.initH}.kernel`), F, c.units, rng);
    glorotUniform(layout.view(flat, `${P.initC}.kernel`), F, c.units, rng);
    glorotUniform(layout.view(flat, `${P.attention}.keys.kernel`), F, c.attentionDim, rng);
    glorotUniform(layout.view(flat, `${P.attention}.query.kernel`), c.units, c.attentionDim, rng);
    glorotUniform(layout.view(flat, `${P.attention}.score.kernel`), c.attentionDim, 1, rng);
    glorotUniform(layout.view(flat, `${P.gate}.kernel`), c.units, 1, rng);
    uniform(layout.view(flat, P.embedding), 0.05, rng);
    glorotUniform(layout.view(flat, `${P.lstm}.kernel`), c.embedDim, 4 * c.units, rng);
    glorotUniform(layout.view(flat, P.contextKernel), F, 4 * c.units, rng);
    orthogonalRows(layout.view(flat, `${P.lstm}.recurrent_kernel`), c.units, 4 * c.units, rng);
    layout.view(flat, `${P.lstm}.bias`).fill(1, c.units, 2 * c.units); // forget gate starts open
    glorotUniform(layout.view(flat, `${P.output}.kernel`), c.units, c.vocabSize, rng);
  },

  input: (c) => [c.featureDim, c.regions],

  states: (c) => [
    {
      name: 'regions',
      width: c.regions * c.featureDim,
      shape: [c.regions, c.featureDim],
      init: 'start',
      constant: true,
    },
    {
      name: 'keys',
      width: c.regions * c.attentionDim,
      shape: [c.regions, c.attentionDim],
      init: 'start',
      constant: true,
    },
    { name: 'h', width: c.units, init: 'start', constant: false },
    { name: 'c', width: c.units, init: 'start', constant: false },
  ],

  start(m, c, features) {
    const { g } = m;
    const regions = op.transpose(g, features, [0, 2, 1]); // [rows, C, R] → [rows, R, C]
    const mean = op.reduceMean(g, regions, [1]); // [rows, C]
    return {
      regions,
      keys: attentionKeys(m, P.attention, regions), // [rows, R, A]
      h: op.tanh(g, dense(m, mean, P.initH)), // [rows, U]
      c: op.tanh(g, dense(m, mean, P.initC)), // [rows, U]
    };
  },

  step(m, c, state, tokens) {
    const { g } = m;
    const x = m.dropout(op.gather(g, m.param(P.embedding), tokens), c.dropout, 'embed'); // [rows, E]
    const { alpha, context } = softAttention(m, P.attention, state.regions, state.keys, state.h); // [rows, R], [rows, C]
    const beta = op.sigmoid(g, dense(m, state.h, P.gate)); // [rows, 1]
    const read = op.matMul(g, op.mul(g, beta, context), m.param(P.contextKernel)); // [rows, 4U]
    const next = lstmCell(m, P.lstm, x, state.h, state.c, c.units, read); // [rows, U] each
    return {
      state: { ...state, h: next.h, c: next.c },
      output: m.dropout(next.h, c.dropout, 'output'), // [rows, U]
      attention: alpha,
    };
  },

  head(m, _c, output) {
    return dense(m, output, P.output); // [n, V]
  },
};
