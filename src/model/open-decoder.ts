import { anyIntegerProducts, type IntegerProducts } from '../graph/passes.js';
import { buildDecodeGraphs, type DecoderWeights } from './decode-graphs.js';
import type { LoadedModel } from './model-folder.js';
import { OnnxStepDecoder, type OnnxDecoderOptions } from './onnx-step-decoder.js';
import type { StepDecoder } from './step-decoder.js';

export interface OpenDecoderOptions extends OnnxDecoderOptions {
  /**
   * Products with the model's int8 weights in integers (see InferenceGraph). Default: the model's
   * `decoding.integerProducts`; a list of parameter names: only the products with those weights. Off,
   * int8 weights decode as the floats they stand for.
   */
  integerProducts?: IntegerProducts;
}
export type { DecoderWeights };

/** A step decoder for a loaded model or ensemble (one graph for all members). */
export function openDecoder(model: LoadedModel, options: OpenDecoderOptions = {}): Promise<StepDecoder> {
  const integerProducts = options.integerProducts ?? model.config.decoding?.integerProducts ?? false;
  // Without integer products the int8 matrices stay out of the graphs: as float constants onnxruntime
  // reads them directly, where int8 ones would be dequantized again at every step.
  const members = (model.members ?? [model]).map((m) => ({
    ...m,
    config: m.config.model,
    int8: anyIntegerProducts(integerProducts) ? m.int8 : undefined,
  }));
  return openWeightsDecoder(members, { ...options, integerProducts });
}

/** A step decoder for weights as training holds them (one model, or several as an ensemble). */
export function openWeightsDecoder(
  weights: DecoderWeights | readonly DecoderWeights[],
  options: OpenDecoderOptions = {},
): Promise<StepDecoder> {
  const members = Array.isArray(weights) ? weights : [weights];
  // onnxruntime-node folds the int8 tables at load: a step then reads a row instead of a product.
  return OnnxStepDecoder.create(
    buildDecodeGraphs(members, { integerProducts: options.integerProducts, foldInt8Lookups: true }),
    options,
  );
}
