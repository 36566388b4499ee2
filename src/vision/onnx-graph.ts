import onnxProto from 'onnx-proto';
import { CaptionerError } from '../util/errors.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;

/** Names of the outputs that `exposeFeatureOutputs` adds to a classifier. */
export const POOLED_OUTPUT = 'captioner_pooled';
export const SPATIAL_OUTPUT = 'captioner_spatial';
export interface EditedModel {
  /** The serialized model with the extra outputs. */
  bytes: Uint8Array;
  inputName: string;
  /** Declared input dims [N, C, H, W]; a symbolic or missing dim is undefined. */
  inputDims: (number | undefined)[];
  logitsOutput: string;
  pooledOutput: string;
  /** Absent when no spatial map feeds the pooled vector (checked by structure, not names). */
  spatialOutput?: string;
  /** How the tensors were found, for error messages and tests. */
  found: { classifier: string; pooledTensor: string; spatialTensor?: string; pooling?: string };
}

// Ops that only reshape, reorder or re-encode a tensor: walking through them keeps "the same values".
const PASS_THROUGH = new Set([
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Cast',
  'DequantizeLinear',
  'QuantizeLinear',
]);
// Ops after the classifier's matmul that keep the logits' meaning (bias, softmax, dequantization).
const HEAD_OPS = new Set([...PASS_THROUGH, 'Softmax', 'LogSoftmax', 'Add', 'QLinearAdd', 'Sum']);
const CLASSIFIER_OPS = new Set([
  'Gemm',
  'MatMul',
  'QLinearMatMul',
  'MatMulInteger',
  'FusedMatMul',
  'FusedGemm',
]);
const POOLING_OPS = new Set([
  'GlobalAveragePool',
  'QLinearGlobalAveragePool',
  'GlobalMaxPool',
  'ReduceMean',
  'AveragePool',
  'QLinearAveragePool',
]);
// Ops that keep a quantized tensor's scale and zero point (int8 in, int8 out).
const QUANT_PASS_THROUGH = new Set([
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Transpose',
  'MaxPool',
]);
// Where each quantized op takes its output's [scale, zero point] among its inputs.
const OUTPUT_QPARAMS: Record<string, [number, number]> = {
  QuantizeLinear: [1, 2],
  QLinearConv: [6, 7],
  QLinearMatMul: [6, 7],
  QLinearAdd: [6, 7],
  QLinearMul: [6, 7],
  QLinearGlobalAveragePool: [3, 4],
  QLinearAveragePool: [3, 4],
  QLinearSigmoid: [3, 4],
  QLinearLeakyRelu: [3, 4],
  QLinearConcat: [0, 1],
};
// Where quantized consumers read the [scale, zero point] of the input at a given index.
const INPUT_QPARAMS: Record<string, Record<number, [number, number]>> = {
  DequantizeLinear: { 0: [1, 2] },
  QLinearConv: { 0: [1, 2], 3: [4, 5] },
  QLinearMatMul: { 0: [1, 2], 3: [4, 5] },
  QLinearAdd: { 0: [1, 2], 3: [4, 5] },
  QLinearMul: { 0: [1, 2], 3: [4, 5] },
  QLinearGlobalAveragePool: { 0: [1, 2] },
  QLinearAveragePool: { 0: [1, 2] },
};

/**
 * Adds two float32 outputs to an ImageNet classifier: the vector that feeds its final classifier
 * (`captioner_pooled`, [N, D]) and the spatial map that feeds its global pooling (`captioner_spatial`,
 * [N, C, H, W]). Both are found by graph structure — walk back from the logits to the last matmul, then
 * from its input to the pooling — so any zoo-style classifier works whatever its tensor names. Quantized
 * tensors get a DequantizeLinear with the scale and zero point the graph already uses for them.
 */
export function exposeFeatureOutputs(modelBytes: Uint8Array, what = 'the encoder'): EditedModel {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(modelBytes);
  } catch (error) {
    throw new CaptionerError('ENCODER_INVALID', `${what} is not an ONNX model`, { cause: error });
  }
  // Decoded messages always carry their repeated fields (empty arrays at worst).
  const graph = model.graph as onnxProto.onnx.GraphProto | null;
  if (!graph || !graph.node?.length)
    throw new CaptionerError('ENCODER_INVALID', `${what} is not an ONNX model (no graph)`);
  const fail = (why: string): never => {
    throw new CaptionerError(
      'ENCODER_UNSUPPORTED',
      `${what} does not look like an ImageNet classifier: ${why}`,
    );
  };

  const constants = new Set<string>(graph.initializer.map((t) => t.name ?? ''));
  const producer = new Map<string, Node>();
  const consumers = new Map<string, { node: Node; index: number }[]>();
  for (const node of graph.node) {
    if (node.opType === 'Constant') for (const o of node.output ?? []) constants.add(o);
    for (const o of node.output ?? []) producer.set(o, node);
    (node.input ?? []).forEach((name, index) => {
      if (!consumers.has(name)) consumers.set(name, []);
      consumers.get(name)!.push({ node, index });
    });
  }
  const constantMemo = new Map<string, boolean>();
  const isConstant = (name: string): boolean => {
    if (constants.has(name)) return true;
    let known = constantMemo.get(name);
    if (known === undefined) {
      constantMemo.set(name, false); // guards against cycles
      // A constant folded through a cast or dequantize (quantized weights) is still a constant.
      const p = producer.get(name);
      known = !!p && (p.input ?? []).length > 0 && (p.input ?? []).every((i) => i === '' || isConstant(i));
      constantMemo.set(name, known);
    }
    return known;
  };
  // The input that carries activations: the first non-constant one among the op's data inputs.
  const dataInput = (node: Node): string | undefined => {
    const inputs = node.input ?? [];
    const candidates = node.opType === 'QLinearAdd' || node.opType === 'QLinearMatMul' ? [0, 3] : [0, 1];
    return candidates.map((i) => inputs[i]).find((name) => name && !isConstant(name));
  };

  const input = graph.input.find((i) => !constants.has(i.name ?? ''));
  if (!input?.name) fail('it has no image input');
  const inputName = input!.name!;
  const inputDims = (input!.type?.tensorType?.shape?.dim ?? []).map((d) =>
    d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0
      ? Number(d.dimValue)
      : undefined,
  );
  if (inputDims.length !== 4) fail(`its input "${inputName}" is not [N, 3, H, W]`);

  const logitsOutput = graph.output[0]?.name;
  if (!logitsOutput) fail('it has no output');

  // 1. From the logits back to the classifier's matmul.
  let classifier: Node | undefined;
  for (let name: string | undefined = logitsOutput!, steps = 0; name && steps < 16; steps++) {
    const node = producer.get(name);
    if (!node) break;
    if (CLASSIFIER_OPS.has(node.opType ?? '')) {
      classifier = node;
      break;
    }
    if (!HEAD_OPS.has(node.opType ?? '')) break;
    name = dataInput(node);
  }
  if (!classifier) fail('no fully connected layer (Gemm/MatMul) produces its output');
  const pooledTensor = dataInput(classifier!);
  if (!pooledTensor) fail('its final classifier has no activation input');

  // 2. From the classifier's input back to the global pooling; failing that (VGG: flatten, then fully
  // connected layers), to the flatten of the last 4-D map.
  let pooling: Node | undefined;
  let flatten: Node | undefined;
  for (let name: string | undefined = pooledTensor!, steps = 0; name && steps < 32; steps++) {
    const node = producer.get(name);
    if (!node) break;
    const op = node.opType ?? '';
    if (POOLING_OPS.has(op)) {
      pooling = node;
      break;
    }
    // Past a flatten, only pass-through ops may still lead to a pooling.
    if (flatten && !PASS_THROUGH.has(op)) break;
    if (!flatten && (op === 'Flatten' || op === 'Reshape')) flatten = node;
    name = dataInput(node);
  }
  const spatialTensor = pooling ? dataInput(pooling) : flatten ? dataInput(flatten) : undefined;

  // 3. Expose them as float32 outputs.
  const isQuantized = (name: string, depth = 0): boolean => {
    const p = producer.get(name);
    if (!p || depth > 16) return false;
    if (p.opType === 'QuantizeLinear' || (p.opType ?? '').startsWith('QLinear')) return true;
    return QUANT_PASS_THROUGH.has(p.opType ?? '') && isQuantized(p.input?.[0] ?? '', depth + 1);
  };
  const qparams = (name: string, depth = 0): [string, string] | undefined => {
    for (const { node, index } of consumers.get(name) ?? []) {
      const at = INPUT_QPARAMS[node.opType ?? '']?.[index];
      if (at && node.input?.[at[0]]) return [node.input[at[0]], node.input[at[1]]];
    }
    const p = producer.get(name);
    if (!p || depth > 16) return undefined;
    const at = OUTPUT_QPARAMS[p.opType ?? ''];
    if (at && p.input?.[at[0]]) return [p.input[at[0]], p.input[at[1]]];
    return QUANT_PASS_THROUGH.has(p.opType ?? '') ? qparams(p.input?.[0] ?? '', depth + 1) : undefined;
  };
  const expose = (tensor: string, outputName: string): void => {
    if (isQuantized(tensor)) {
      const q = qparams(tensor);
      if (!q) fail(`cannot find the quantization scale of "${tensor}"`);
      graph.node.push(
        onnx.NodeProto.create({
          opType: 'DequantizeLinear',
          name: `${outputName}_dequantize`,
          input: [tensor, q![0], q![1]],
          output: [outputName],
        }),
      );
    } else {
      graph.node.push(
        onnx.NodeProto.create({
          opType: 'Identity',
          name: `${outputName}_identity`,
          input: [tensor],
          output: [outputName],
        }),
      );
    }
    graph.output.push(
      onnx.ValueInfoProto.create({
        name: outputName,
        type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } },
      }),
    );
  };
  expose(pooledTensor!, POOLED_OUTPUT);
  if (spatialTensor) expose(spatialTensor, SPATIAL_OUTPUT);

  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputName,
    inputDims,
    logitsOutput: logitsOutput!,
    pooledOutput: POOLED_OUTPUT,
    spatialOutput: spatialTensor ? SPATIAL_OUTPUT : undefined,
    found: {
      classifier: classifier!.name || classifier!.opType || '?',
      pooledTensor: pooledTensor!,
      spatialTensor,
      pooling: pooling?.opType ?? undefined,
    },
  };
}
