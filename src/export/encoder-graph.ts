import onnxProto from 'onnx-proto';
import type { EditedModel } from '../vision/onnx-graph.js';

const { onnx } = onnxProto;

/** Names of the bundle encoder's tensors. */
export const ENCODER_INPUT = 'image';
export const ENCODER_FEATURES = 'features';
export const ENCODER_SPATIAL = 'spatial';

export interface BundleEncoderGraph {
  bytes: Uint8Array;
  input: string;
  /** features: the pooled vector; spatial (when asked for): the last C×H×W map. */
  outputs: { features: string; spatial?: string };
}

/**
 * The encoder as the bundle ships it: the classifier edited by `exposeFeatureOutputs`, with the
 * pooled vector (and, for attention models, the spatial map) as its only outputs, under plain names
 * (`image` in; `features`, `spatial` out). What only the ImageNet logits needed (the classifier's
 * fully connected layer, a third of MobileNetV2's weights) is dropped, so the download is smaller.
 */
export function bundleEncoderGraph(
  edited: EditedModel,
  options: { spatial?: boolean } = {},
): BundleEncoderGraph {
  const model = onnx.ModelProto.decode(edited.bytes);
  // Decoded messages always carry their repeated fields (empty arrays at worst).
  const graph = model.graph as onnxProto.onnx.GraphProto;
  if (options.spatial && !edited.spatialOutput)
    throw new Error('the encoder has no spatial map to expose (no global pooling found)');
  const rename = new Map<string, string>([
    [edited.inputName, ENCODER_INPUT],
    [edited.pooledOutput, ENCODER_FEATURES],
  ]);
  if (options.spatial) rename.set(edited.spatialOutput!, ENCODER_SPATIAL);
  const renamed = (name: string) => rename.get(name) ?? name;
  for (const node of graph.node) {
    node.input = (node.input ?? []).map(renamed);
    node.output = (node.output ?? []).map(renamed);
  }
  for (const input of graph.input) input.name = renamed(input.name ?? '');
  const wanted = [ENCODER_FEATURES, ...(options.spatial ? [ENCODER_SPATIAL] : [])];
  graph.output = graph.output
    .map((o) => ({ o, name: renamed(o.name ?? '') }))
    .filter(({ name }) => wanted.includes(name))
    .map(({ o, name }) => Object.assign(o, { name }));

  // Keep the nodes the outputs need (walking back from them), and the tensors those nodes read.
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const node of graph.node) for (const o of node.output ?? []) producer.set(o, node);
  const live = new Set<onnxProto.onnx.INodeProto>();
  const used = new Set<string>(wanted);
  const stack = [...wanted];
  while (stack.length > 0) {
    const node = producer.get(stack.pop()!);
    if (!node || live.has(node)) continue;
    live.add(node);
    for (const i of node.input ?? []) {
      used.add(i);
      stack.push(i);
    }
  }
  graph.node = graph.node.filter((n) => live.has(n));
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? ''));
  graph.valueInfo = graph.valueInfo.filter((v) => used.has(v.name ?? ''));
  graph.input = graph.input.filter((i) => used.has(i.name ?? ''));
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    input: ENCODER_INPUT,
    outputs: { features: ENCODER_FEATURES, ...(options.spatial ? { spatial: ENCODER_SPATIAL } : {}) },
  };
}
