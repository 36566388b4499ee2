/**
 * The graph IR every model is written in: values with shapes, nodes that are ONNX operators (plus a
 * few pseudo-operators that `lowerPseudoOps` expands), and constants. A Graph is built by calling the
 * functions of `ops.ts`; `autodiff.ts` appends the backward nodes to the same graph, and
 * `onnx-export.ts` writes it as an ONNX model for the runtime. Pure TypeScript, browser-safe.
 */

/**
 * 'int8' holds quantized weights (constants only; `ops.cast` turns them into floats); 'uint8' the same
 * shifted by 128, for onnxruntime's integer products (see ops.dynamicQuantizeMatMul).
 */
export type DType = 'float32' | 'int32' | 'int64' | 'bool' | 'int8' | 'uint8';
/** A dimension: a size, or a symbol (e.g. 'rows') that the runtime fixes per call. */
export type Dim = number | string;
export type Shape = readonly Dim[];

export type AttrValue = number | string | readonly number[];
export type Attrs = Readonly<Record<string, AttrValue>>;

export type ConstData = Float32Array | Int32Array | BigInt64Array | Int8Array | Uint8Array;

export interface Value {
  readonly id: number;
  /** Name in the exported graph (unique). */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  /** The node that computes it; absent for inputs and constants. */
  readonly producer?: Node;
  /** Set for constants (initializers in the exported graph). */
  readonly data?: ConstData;
  readonly isInput?: boolean;
}

export interface Node {
  readonly op: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Attrs;
}

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
}

/** A node's output types, or a function inferring them from its inputs (as a pass may replace those). */
export type OutputSpecs = readonly OutputSpec[] | ((inputs: readonly Value[]) => readonly OutputSpec[]);

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly constants: Value[] = [];
  readonly outputs: Value[] = [];
  private nextId = 0;
  private readonly names = new Set<string>();
  /** Common-subexpression table: a node with the same op, inputs and attributes is built once. */
  private readonly cse = new Map<string, readonly Value[]>();

  constructor(readonly name = 'captioner') {}

  private fresh(hint: string): string {
    let name = hint;
    for (let k = 1; this.names.has(name); k++) name = `${hint}_${k}`;
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.names.has(name)) throw new Error(`graph: the name ${name} is taken`);
    const v: Value = { id: this.nextId++, name: this.fresh(name), dtype, shape, isInput: true };
    this.inputs.push(v);
    return v;
  }

  /** A constant tensor (an initializer). Equal small constants are not deduplicated: name them. */
  constant(name: string, dtype: DType, shape: Shape, data: ConstData): Value {
    const size = shape.reduce<number>((a, d) => a * (d as number), 1);
    if (data.length !== size)
      throw new Error(`graph: constant ${name} has ${data.length} values for shape [${shape.join(', ')}]`);
    const v: Value = { id: this.nextId++, name: this.fresh(name), dtype, shape, data };
    this.constants.push(v);
    return v;
  }

  /**
   * Adds a node (or returns the outputs of an identical one already built). `outputs` gives each
   * output's dtype and shape, or infers them from the inputs: the op functions in ops.ts do.
   */
  node(
    op: string,
    inputs: readonly Value[],
    attrs: Attrs,
    outputs: OutputSpecs,
    hint = op.toLowerCase(),
  ): Value[] {
    const specs = typeof outputs === 'function' ? outputs(inputs) : outputs;
    const key = `${op}|${inputs.map((v) => v.id).join(',')}|${JSON.stringify(attrs)}`;
    const seen = this.cse.get(key);
    if (seen) return [...seen];
    const outs: Value[] = [];
    const node: Node = { op, inputs, outputs: outs, attrs };
    for (const o of specs)
      outs.push({
        id: this.nextId++,
        name: this.fresh(hint),
        dtype: o.dtype,
        shape: o.shape,
        producer: node,
      });
    this.nodes.push(node);
    this.cse.set(key, outs);
    return [...outs];
  }

  /**
   * Marks a value as a graph output under `name`. A value computed by a node and not yet an output is
   * renamed (an Identity would copy it on every run); others get an Identity node.
   */
  output(value: Value, name?: string): Value {
    if (name !== undefined && name !== value.name && this.names.has(name))
      throw new Error(`graph: the output name ${name} is taken`);
    if (name !== undefined && name !== value.name && value.producer && !this.outputs.includes(value)) {
      this.names.delete(value.name);
      this.names.add(name);
      (value as { name: string }).name = name;
    }
    if (name === undefined || name === value.name) {
      this.outputs.push(value);
      return value;
    }
    const node: Node = { op: 'Identity', inputs: [value], outputs: [], attrs: {} };
    const out: Value = { id: this.nextId++, name, dtype: value.dtype, shape: value.shape, producer: node };
    this.names.add(name);
    (node.outputs as Value[]).push(out);
    this.nodes.push(node);
    this.outputs.push(out);
    return out;
  }
}

export function sizeOf(shape: Shape): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b;
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}
