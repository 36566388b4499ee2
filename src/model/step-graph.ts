import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** Graph-wide names: every model's start graph reads FEATURES, every step graph reads TOKENS. */
export const FEATURES = 'features';
export const TOKENS = 'tokens';
export const LOG_PROBS = 'log_probs';
/** A changing state `s` is an input of the step graph; its value after the step is the output `s` + NEXT. */
export const NEXT = '.next';

/** One tensor a decoder carries from step to step, rows × width floats. */
export interface StateSpec {
  name: string;
  width: number;
  /** Zeros before the first step, or an output of the start graph. */
  init: 'zeros' | 'start';
  /** Read by every step and never changed (e.g. the image projection). */
  constant: boolean;
}

/**
 * One model's part of the ONNX decoding graphs (its names already prefixed, so several models can
 * share one graph as an ensemble).
 */
export interface StepGraphPart {
  start: GraphBuilder;
  step: GraphBuilder;
  states: StateSpec[];
  /** The step graph's rows × V next-word logits. */
  logits: string;
}

/** Nodes and float weights of one graph, with names under a prefix. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private count = 0;

  constructor(readonly prefix: string) {}

  weight(name: string, dims: number[], values: Float32Array): string {
    const full = this.prefix + name;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
    this.initializers.push({ name: full, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes });
    return full;
  }

  /** Adds a node; its outputs are `outputs` (unprefixed as given) or one fresh name. */
  op(
    type: string,
    inputs: string[],
    options: { attrs?: Record<string, number>; outputs?: string[] } = {},
  ): string[] {
    const outputs = options.outputs ?? [`${this.prefix}${type.toLowerCase()}_${this.count++}`];
    const attribute: AttributeProto[] = Object.entries(options.attrs ?? {}).map(([name, i]) => ({
      name,
      type: onnx.AttributeProto.AttributeType.INT,
      i,
    }));
    this.nodes.push({ opType: type, input: inputs, output: outputs, attribute });
    return outputs;
  }

  /** One-output node. */
  one(type: string, inputs: string[], attrs?: Record<string, number>, output?: string): string {
    return this.op(type, inputs, { attrs, outputs: output ? [output] : undefined })[0];
  }
}

interface ValueSpec {
  name: string;
  type: 'float' | 'int32';
  dims: (number | 'rows')[];
}

/** A serialized ONNX model (opset 13) of the given nodes, weights, inputs and outputs. */
function serializeGraph(
  name: string,
  builders: GraphBuilder[],
  inputs: ValueSpec[],
  outputs: ValueSpec[],
): Uint8Array {
  const valueInfo = (v: ValueSpec) => ({
    name: v.name,
    type: {
      tensorType: {
        elemType: v.type === 'float' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT32,
        shape: { dim: v.dims.map((d) => (d === 'rows' ? { dimParam: 'rows' } : { dimValue: d })) },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    producerName: 'captioner',
    graph: {
      name,
      node: builders.flatMap((b) => b.nodes),
      initializer: builders.flatMap((b) => b.initializers),
      input: inputs.map(valueInfo),
      output: outputs.map(valueInfo),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface StepModels {
  /** Features → the states computed at the start; absent when every state starts at zero. */
  start?: Uint8Array;
  /** Tokens and states → log-probabilities and the changed states. */
  step: Uint8Array;
  states: StateSpec[];
}

/**
 * The start and step graphs of one model, or of an ensemble: then each step averages the members'
 * next-word probabilities (log of the mean probability) inside the graph, as EnsembleStepDecoder does.
 */
export function buildStepModels(parts: StepGraphPart[], featureDim: number, vocabSize: number): StepModels {
  if (parts.length === 0) throw new Error('no model to build a step graph for');
  const states = parts.flatMap((p) => p.states);
  const head = new GraphBuilder('head.');
  if (parts.length === 1) head.one('LogSoftmax', [parts[0].logits], { axis: -1 }, LOG_PROBS);
  else {
    const probs = parts.map((p) => head.one('Softmax', [p.logits], { axis: -1 }));
    const mean = head.one('Mul', [
      head.one('Sum', probs),
      head.weight('inverse_count', [], Float32Array.of(1 / parts.length)),
    ]);
    head.one('Log', [mean], undefined, LOG_PROBS);
  }
  const state = (s: StateSpec, name = s.name): ValueSpec => ({
    name,
    type: 'float',
    dims: ['rows', s.width],
  });
  const fromStart = states.filter((s) => s.init === 'start');
  return {
    start:
      fromStart.length === 0
        ? undefined
        : serializeGraph(
            'captioner_start',
            parts.map((p) => p.start),
            [{ name: FEATURES, type: 'float', dims: ['rows', featureDim] }],
            fromStart.map((s) => state(s)),
          ),
    step: serializeGraph(
      'captioner_step',
      [...parts.map((p) => p.step), head],
      [{ name: TOKENS, type: 'int32', dims: ['rows'] }, ...states.map((s) => state(s))],
      [
        { name: LOG_PROBS, type: 'float', dims: ['rows', vocabSize] },
        ...states.filter((s) => !s.constant).map((s) => state(s, s.name + NEXT)),
      ],
    ),
    states,
  };
}
