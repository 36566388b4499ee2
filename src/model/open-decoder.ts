import type { Architecture, ModelConfigBase } from './architecture.js';
import type { LoadedModel } from './model-folder.js';
import { OnnxStepDecoder, type OnnxDecoderOptions } from './onnx-step-decoder.js';
import type { StepDecoder } from './step-decoder.js';
import { buildStepModels } from './step-graph.js';

/** Where decoding runs: onnxruntime's native kernels (fast), or the tfjs backend training uses. */
export type DecoderRuntime = 'onnx' | 'tfjs';

export interface OpenDecoderOptions extends OnnxDecoderOptions {
  /** Default onnx; tfjs where an architecture has no ONNX graph. */
  runtime?: DecoderRuntime;
}

/** The weights of one model, as training holds them or a model folder gives them. */
export interface DecoderWeights {
  architecture: Architecture;
  config: ModelConfigBase;
  layout: LoadedModel['layout'];
  params: Float32Array;
}

/**
 * A step decoder for a loaded model or ensemble. Both runtimes compute the same function (they agree
 * to float rounding, checked by the tests); onnx is the one to serve with.
 */
export function openDecoder(model: LoadedModel, options: OpenDecoderOptions = {}): Promise<StepDecoder> {
  const members = (model.members ?? [model]).map((m) => ({ ...m, config: m.config.model }));
  return open(members, () => model.decoder(), options);
}

/** The onnxruntime decoder of one model's weights, or the tfjs one where there is no ONNX graph. */
export function openWeightsDecoder(
  weights: DecoderWeights,
  options: OpenDecoderOptions = {},
): Promise<StepDecoder> {
  const { architecture, config, layout, params } = weights;
  return open([weights], () => architecture.stepDecoder(config, layout, params), options);
}

/** The ONNX decoder of the members, unless tfjs is asked for or a member's architecture has no graph. */
async function open(
  members: DecoderWeights[],
  tfjs: () => StepDecoder,
  options: OpenDecoderOptions,
): Promise<StepDecoder> {
  if ((options.runtime ?? 'onnx') === 'tfjs' || !members.every((m) => m.architecture.stepGraph))
    return tfjs();
  const parts = members.map((m, k) => m.architecture.stepGraph!(m.config, m.layout, m.params, `m${k}.`));
  const { vocabSize, featureDim } = members[0].config;
  return OnnxStepDecoder.create(
    buildStepModels(parts, featureDim, vocabSize),
    { vocabSize, featureDim },
    options,
  );
}
