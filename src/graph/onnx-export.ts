import onnxProto from 'onnx-proto';
import type { AttrValue, DType, Graph, Node, Value } from './ir.js';
import * as op from './ops.js';

const { onnx } = onnxProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

const ELEM_TYPE: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
};

/**
 * Pseudo-operators of the IR, expanded into ONNX operators at export. Each returns the value that
 * stands for the node's single output.
 */
const LOWERINGS: Record<string, (g: Graph, node: Node) => Value> = {
  // loss = −w·((1−ε)·log p[target] + ε·mean log p)
  SoftmaxCrossEntropy(g, node) {
    const [logits, targets, weights, epsilon] = node.inputs;
    const logp = op.logSoftmax(g, logits);
    const picked = op.squeeze(g, op.gatherElements(g, logp, op.unsqueeze(g, targets, 1), 1), 1);
    const mean = op.reduceMean(g, logp, [1]);
    const mixed = op.add(g, op.mul(g, op.sub(g, op.scalar(g, 1), epsilon), picked), op.mul(g, epsilon, mean));
    return op.neg(g, op.mul(g, weights, mixed));
  },
};

function attribute(name: string, value: AttrValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value as number[] };
  if (name === 'value' && typeof value === 'number') {
    // ConstantOfShape's fill: a one-element float tensor.
    return {
      name,
      type: T.TENSOR,
      t: { dims: [1], dataType: onnx.TensorProto.DataType.FLOAT, floatData: [value as number] },
    };
  }
  return { name, type: T.INT, i: value as number };
}

function valueInfo(v: Value) {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function tensorProto(v: Value) {
  const data = v.data!;
  return {
    name: v.name,
    dims: v.shape as number[],
    dataType: ELEM_TYPE[v.dtype],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
  };
}

/** The nodes that compute `outputs`, pseudo-operators expanded, in topological order. */
function liveNodes(g: Graph): Node[] {
  const lowered = new Map<Node, Node[]>();
  for (const node of [...g.nodes]) {
    const lower = LOWERINGS[node.op];
    if (!lower) continue;
    const before = g.nodes.length;
    const value = lower(g, node);
    const rename: Node = { op: 'Identity', inputs: [value], outputs: node.outputs, attrs: {} };
    lowered.set(node, [...g.nodes.slice(before), rename]);
  }
  const producer = new Map<number, Node>();
  for (const node of g.nodes) if (!LOWERINGS[node.op]) for (const o of node.outputs) producer.set(o.id, node);
  for (const [, expansion] of lowered)
    for (const n of expansion) for (const o of n.outputs) producer.set(o.id, n);

  const order: Node[] = [];
  const state = new Map<Node, 'visiting' | 'done'>();
  const visit = (value: Value) => {
    const start = producer.get(value.id);
    if (!start || state.get(start) === 'done') return;
    // Iterative depth-first search: unrolled graphs are deep enough to overflow the call stack.
    const stack: { node: Node; next: number }[] = [{ node: start, next: 0 }];
    state.set(start, 'visiting');
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.next < top.node.inputs.length) {
        const p = producer.get(top.node.inputs[top.next++].id);
        if (!p || state.get(p) === 'done') continue;
        if (state.get(p) === 'visiting') throw new Error('graph export: the graph has a cycle');
        state.set(p, 'visiting');
        stack.push({ node: p, next: 0 });
      } else {
        state.set(top.node, 'done');
        order.push(top.node);
        stack.pop();
      }
    }
  };
  for (const o of g.outputs) visit(o);
  return order;
}

/** onnxruntime's own operators (domain com.microsoft) the graphs may use; every other op is standard ONNX. */
const MICROSOFT_OPS = new Set(['DynamicQuantizeMatMul']);

/** The graph as a serialized ONNX model: only what its outputs need, constants as initializers. */
export function exportOnnx(g: Graph): Uint8Array {
  const nodes = liveNodes(g);
  const used = new Set<number>();
  for (const n of nodes) for (const v of n.inputs) used.add(v.id);
  for (const o of g.outputs) used.add(o.id);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [
      { domain: '', version: op.OPSET },
      ...(nodes.some((n) => MICROSOFT_OPS.has(n.op)) ? [{ domain: 'com.microsoft', version: 1 }] : []),
    ],
    producerName: 'captioner',
    graph: {
      name: g.name,
      node: nodes.map((n) => ({
        opType: n.op,
        ...(MICROSOFT_OPS.has(n.op) ? { domain: 'com.microsoft' } : {}),
        input: n.inputs.map((v) => v.name),
        output: n.outputs.map((v) => v.name),
        attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
      })),
      initializer: g.constants.filter((c) => used.has(c.id)).map(tensorProto),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
