import { CaptionerError } from '../util/errors.js';
import { Rng } from '../util/random.js';
import type { Architecture, ModelConfigBase, TrainBatch } from './architecture.js';
import { glorotUniform, orthogonalRows, uniform } from './init.js';
import { MergeStepDecoder } from './merge-step-decoder.js';
import { mergeStepGraph } from './merge-step-graph.js';
import { lstmSequence } from './lstm.js';
import { dense, gatherRows, softmaxCrossEntropySum } from './ops.js';
import type { ParamSpec } from './params.js';
import { tf } from './tf-backend.js';

/**
 * The "merge" model of the Keras tutorials: image → Dropout → Dense(relu); caption → Embedding →
 * Dropout → LSTM; add → Dense(relu) → Dense(V) softmax. Here the LSTM runs over the whole caption at
 * once (teacher forcing) instead of once per prefix: the same per-word losses, linear time.
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
      { name: P.imageKernel, shape: [c.featureDim, c.units] },
      { name: P.imageBias, shape: [c.units] },
      { name: P.embedding, shape: [c.vocabSize, c.embedDim] },
      { name: P.lstmKernel, shape: [c.embedDim, 4 * c.units] },
      { name: P.lstmRecurrent, shape: [c.units, 4 * c.units] },
      { name: P.lstmBias, shape: [4 * c.units] },
      { name: P.decoderKernel, shape: [c.units, c.decoderUnits] },
      { name: P.decoderBias, shape: [c.decoderUnits] },
      { name: P.outputKernel, shape: [c.decoderUnits, c.vocabSize] },
      { name: P.outputBias, shape: [c.vocabSize] },
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

  lossSum(c, params, batch, training) {
    const { rows: b, steps: T } = batch;
    const U = c.units;
    const masks = training ? dropoutMasks(c, batch) : undefined;

    let image: tf.Tensor = tf.tensor2d(batch.features, [b, c.featureDim]);
    if (masks?.image) image = tf.mul(image, tf.tensor2d(masks.image, [b, c.featureDim]));
    const imageCode = dense(
      image as tf.Tensor2D,
      params[P.imageKernel] as tf.Tensor2D,
      params[P.imageBias] as tf.Tensor1D,
      {
        relu: true,
        inputGrad: false,
      },
    );

    let x: tf.Tensor = gatherRows(params[P.embedding] as tf.Tensor2D, batch.inputs);
    if (masks?.embed) x = tf.mul(x, tf.tensor2d(masks.embed, [T * b, c.embedDim]));
    const hs = lstmSequence(
      x as tf.Tensor2D,
      params[P.lstmKernel] as tf.Tensor2D,
      params[P.lstmRecurrent] as tf.Tensor2D,
      params[P.lstmBias] as tf.Tensor1D,
      T,
      b,
    );
    const merged = tf.add(tf.reshape(hs, [T, b, U]), imageCode); // [T, b, U] + [b, U]
    const atTargets = gatherRows(tf.reshape(merged, [T * b, U]) as tf.Tensor2D, batch.positions);
    const hidden = dense(
      atTargets,
      params[P.decoderKernel] as tf.Tensor2D,
      params[P.decoderBias] as tf.Tensor1D,
      {
        relu: true,
      },
    );
    const logits = dense(hidden, params[P.outputKernel] as tf.Tensor2D, params[P.outputBias] as tf.Tensor1D);
    return softmaxCrossEntropySum(logits, batch.targets, training ? (c.labelSmoothing ?? 0) : 0);
  },

  stepDecoder(c, layout, flat) {
    return new MergeStepDecoder(c, layout, flat);
  },

  stepGraph(c, layout, flat, prefix) {
    return mergeStepGraph(c, layout, flat, prefix);
  },
};

/**
 * Inverted-dropout masks (0 or 1/(1−p)), drawn per row from the row's own seed: the image vector, then
 * the embedding of each real input step. Padding steps stay zero; they reach no loss.
 */
function dropoutMasks(c: MergeConfig, batch: TrainBatch): { image?: Float32Array; embed?: Float32Array } {
  const { rows: b, steps: T, inputs } = batch;
  const image = c.imageDropout > 0 ? new Float32Array(b * c.featureDim) : undefined;
  const embed = c.embedDropout > 0 ? new Float32Array(T * b * c.embedDim) : undefined;
  const keepImage = 1 - c.imageDropout;
  const keepEmbed = 1 - c.embedDropout;
  const E = c.embedDim;
  for (let r = 0; r < b; r++) {
    const rng = new Rng(batch.rowSeeds[r]);
    if (image) {
      const base = r * c.featureDim;
      rng.mask(image, base, c.featureDim, keepImage, 1 / keepImage);
    }
    if (embed) {
      for (let t = 0; t < T && inputs[t * b + r] !== 0; t++) {
        const base = (t * b + r) * E;
        rng.mask(embed, base, E, keepEmbed, 1 / keepEmbed);
      }
    }
  }
  return { image, embed };
}
