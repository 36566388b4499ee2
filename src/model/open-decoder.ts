import { buildDecodeGraphs, type DecoderWeights } from './decode-graphs.js';
import type { LoadedModel } from './model-folder.js';
import { OnnxStepDecoder, type OnnxDecoderOptions } from './onnx-step-decoder.js';
import type { StepDecoder } from './step-decoder.js';

export type OpenDecoderOptions = OnnxDecoderOptions;
export type { DecoderWeights };

/** A step decoder for a loaded model or ensemble (one graph for all members). */
export function openDecoder(model: LoadedModel, options: OpenDecoderOptions = {}): Promise<StepDecoder> {
  const members = (model.members ?? [model]).map((m) => ({ ...m, config: m.config.model }));
  return openWeightsDecoder(members, options);
}

/** A step decoder for weights as training holds them (one model, or several as an ensemble). */
export function openWeightsDecoder(
  weights: DecoderWeights | readonly DecoderWeights[],
  options: OpenDecoderOptions = {},
): Promise<StepDecoder> {
  return OnnxStepDecoder.create(buildDecodeGraphs(Array.isArray(weights) ? weights : [weights]), options);
}
