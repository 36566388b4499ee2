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
  if ((options.runtime ?? 'onnx') === 'tfjs' || !hasGraph(members)) return Promise.resolve(model.decoder());
  return openOnnxDecoder(members, options);
}

/** The onnxruntime decoder of one model's weights, or the tfjs one where there is no ONNX graph. */
export function openWeightsDecoder(
  weights: DecoderWeights,
  options: OpenDecoderOptions = {},
): Promise<StepDecoder> {
  if ((options.runtime ?? 'onnx') === 'tfjs' || !hasGraph([weights]))
    return Promise.resolve(weights.architecture.stepDecoder(weights.config, weights.layout, weights.params));
  return openOnnxDecoder([weights], options);
}

function hasGraph(members: DecoderWeights[]): boolean {
  return members.every((m) => m.architecture.stepGraph);
}

function openOnnxDecoder(members: DecoderWeights[], options: OnnxDecoderOptions): Promise<StepDecoder> {
  const parts = members.map((m, k) => m.architecture.stepGraph!(m.config, m.layout, m.params, `m${k}.`));
  const { vocabSize, featureDim } = members[0].config;
  return OnnxStepDecoder.create(
    buildStepModels(parts, featureDim, vocabSize),
    { vocabSize, featureDim },
    options,
  );
}
