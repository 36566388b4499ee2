// onnxruntime-web does not constant-fold a weight's dequantization (Cast of an int8 initializer, Mul by
// its scales): it would redo it at every run, over millions of weights (a decoding step 4× slower). This
// folds them before the session is created, on the serialized model: a few protobuf fields are read,
// the folded weights written as float initializers, everything else copied byte for byte.
//
// The weights (folded or not, all but the smallest) leave the model as ONNX external data, each its
// own buffer (the folded array itself, or a view into the model's bytes: nothing is copied to gather
// them): onnxruntime then copies each straight into its tensor, where a weight inside the model is
// copied into the runtime's memory with the model, again as the model is parsed, and again into its
// tensor. Fresh memory is slow to touch in the browser: the attention decoder's step session (22 MB
// of weights once folded) opened in ~250 ms against ~430 (bare Chromium page, 3 pairs).

import type { ModelSource } from '../runtime/session-core.js';

const FLOAT = 1;
const INT8 = 3;
/** Initializers of at least this many bytes move to the external data. */
const EXTERNAL_MIN_BYTES = 4096;

interface Field {
  field: number;
  wire: number;
  /** The whole field, tag included. */
  start: number;
  end: number;
  /** Payload of a length-delimited field. */
  body?: Uint8Array;
  value?: number;
}

function varint(bytes: Uint8Array, at: number): [number, number] {
  let result = 0;
  let scale = 1;
  for (;;) {
    const b = bytes[at++];
    result += (b & 0x7f) * scale;
    if (b < 0x80) return [result, at];
    scale *= 128;
  }
}

function fields(bytes: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    let tag: number;
    [tag, at] = varint(bytes, at);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      let value: number;
      [value, at] = varint(bytes, at);
      out.push({ field, wire, start, end: at, value });
    } else if (wire === 2) {
      let length: number;
      [length, at] = varint(bytes, at);
      out.push({ field, wire, start, end: at + length, body: bytes.subarray(at, at + length) });
      at += length;
    } else if (wire === 1) out.push({ field, wire, start, end: (at += 8) });
    else if (wire === 5) out.push({ field, wire, start, end: (at += 4) });
    else throw new Error(`fold-constants: unsupported protobuf wire type ${wire}`);
  }
  return out;
}

const decoder = new TextDecoder();
const text = (b: Uint8Array) => decoder.decode(b);

function writeVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** A length-delimited field whose payload is `body` (one array, or parts written one after another). */
function lengthDelimited(field: number, body: Uint8Array | Uint8Array[]): Uint8Array[] {
  const parts = Array.isArray(body) ? body : [body];
  const head: number[] = [];
  writeVarint(head, field * 8 + 2);
  writeVarint(
    head,
    parts.reduce((n, p) => n + p.length, 0),
  );
  return [Uint8Array.from(head), ...parts];
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Constant {
  dims: number[];
  data: Float32Array | Int8Array;
}

/** A TensorProto's dims, type and values (raw or float data), when it is int8 or float; else undefined. */
function readTensor(body: Uint8Array): { name: string; constant?: Constant } {
  let name = '';
  let type = 0;
  const dims: number[] = [];
  let raw: Uint8Array | undefined;
  let floats: number[] | undefined;
  for (const f of fields(body)) {
    if (f.field === 8 && f.body) name = text(f.body);
    else if (f.field === 2 && f.value !== undefined) type = f.value;
    else if (f.field === 1) {
      if (f.value !== undefined) dims.push(f.value);
      else if (f.body) for (let at = 0; at < f.body.length;) [dims[dims.length], at] = varint(f.body, at);
    } else if (f.field === 9 && f.body) raw = f.body;
    else if (f.field === 4 && f.body) {
      const view = new DataView(f.body.buffer, f.body.byteOffset, f.body.byteLength);
      floats = Array.from({ length: f.body.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
    } else if (f.field === 14 && f.value === 1) return { name }; // external data: leave it alone
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (type === INT8 && raw && raw.length === size)
    return { name, constant: { dims, data: new Int8Array(raw.buffer, raw.byteOffset, raw.length) } }; // a view: bytes need no alignment
  if (type === FLOAT && raw && raw.length === size * 4)
    return { name, constant: { dims, data: new Float32Array(new Uint8Array(raw).buffer) } };
  if (type === FLOAT && floats && floats.length === size)
    return { name, constant: { dims, data: Float32Array.from(floats) } };
  return { name };
}

function readNode(body: Uint8Array): { op: string; inputs: string[]; outputs: string[]; to?: number } {
  const node = {
    op: '',
    inputs: [] as string[],
    outputs: [] as string[],
    to: undefined as number | undefined,
  };
  for (const f of fields(body)) {
    if (f.field === 1 && f.body) node.inputs.push(text(f.body));
    else if (f.field === 2 && f.body) node.outputs.push(text(f.body));
    else if (f.field === 4 && f.body) node.op = text(f.body);
    else if (f.field === 5 && f.body) {
      const attr = fields(f.body);
      const isTo = attr.some((a) => a.field === 1 && a.body && text(a.body) === 'to');
      const i = attr.find((a) => a.field === 3)?.value;
      if (isTo && i !== undefined) node.to = i;
    }
  }
  return node;
}

/** The external data being gathered: one entry per weight, named `<location>.<n>`. */
class ExternalData {
  readonly entries: { path: string; data: Uint8Array }[] = [];

  constructor(readonly location: string) {}

  /** Adds `bytes` (not copied): the TensorProto fields that point at them (external_data, data_location). */
  add(bytes: Uint8Array): Uint8Array[] {
    const path = `${this.location}.${this.entries.length}`;
    this.entries.push({ path, data: bytes });
    const entry = (key: string, value: string) =>
      lengthDelimited(13, [
        ...lengthDelimited(1, new TextEncoder().encode(key)),
        ...lengthDelimited(2, new TextEncoder().encode(value)),
      ]);
    const location: number[] = [];
    writeVarint(location, 14 * 8);
    writeVarint(location, 1); // EXTERNAL
    return [
      ...entry('location', path),
      ...entry('offset', '0'),
      ...entry('length', String(bytes.length)),
      Uint8Array.from(location),
    ];
  }
}

/** A float TensorProto as parts, its values in the external data unless they are few. */
function writeTensor(name: string, { dims, data }: Constant, external: ExternalData): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const packed: number[] = [];
  for (const d of dims) writeVarint(packed, d);
  parts.push(...lengthDelimited(1, Uint8Array.from(packed)));
  const type: number[] = [];
  writeVarint(type, 2 * 8);
  writeVarint(type, FLOAT);
  parts.push(Uint8Array.from(type));
  parts.push(...lengthDelimited(8, new TextEncoder().encode(name)));
  // The constructor, not Float32Array.from: from() walks an iterator (~60 ms for the encoder's 2.2M weights).
  const floats = data instanceof Float32Array ? data : new Float32Array(data);
  const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
  parts.push(...(bytes.length < EXTERNAL_MIN_BYTES ? lengthDelimited(9, bytes) : external.add(bytes)));
  return parts;
}

/** An initializer as it was, its raw data (when large) moved to the external data. */
function externalize(tensor: Uint8Array, external: ExternalData): Uint8Array[] {
  const fieldsOf = fields(tensor);
  const raw = fieldsOf.find((f) => f.field === 9 && f.body);
  if (!raw?.body || raw.body.length < EXTERNAL_MIN_BYTES) return [tensor];
  const parts = fieldsOf.filter((f) => f !== raw).map((f) => tensor.subarray(f.start, f.end));
  return [...parts, ...external.add(raw.body)];
}

/**
 * out = x · (one scale per row of `width` values), and per column below. The int8 case (the weights)
 * has loops of its own: one element type per loop keeps V8's code monomorphic, the first time too.
 */
function scaleRows(
  x: Int8Array | Float32Array,
  y: Int8Array | Float32Array,
  width: number,
  out: Float32Array,
) {
  if (x instanceof Int8Array && y instanceof Float32Array) scaleRowsInt8(x, y, width, out);
  else for (let i = 0; i < out.length; i++) out[i] = x[i] * y[Math.floor(i / width)];
}

function scaleRowsInt8(x: Int8Array, y: Float32Array, width: number, out: Float32Array) {
  for (let r = 0, i = 0; i < out.length; r++)
    for (let end = i + width, k = y[r]; i < end; i++) out[i] = x[i] * k;
}

function scaleColumns(
  x: Int8Array | Float32Array,
  y: Int8Array | Float32Array,
  width: number,
  out: Float32Array,
) {
  if (x instanceof Int8Array && y instanceof Float32Array) scaleColumnsInt8(x, y, width, out);
  else for (let i = 0; i < out.length; i++) out[i] = x[i] * y[i % width];
}

function scaleColumnsInt8(x: Int8Array, y: Float32Array, width: number, out: Float32Array) {
  for (let i = 0; i < out.length; i += width) for (let c = 0; c < width; c++) out[i + c] = x[i + c] * y[c];
}

/** a · b with numpy broadcasting (same rank after left-padding with 1s). */
function multiply(a: Constant, b: Constant): Constant | undefined {
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...new Array<number>(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims = da.map((x, i) => Math.max(x, db[i]));
  if (dims.some((x, i) => (da[i] !== x && da[i] !== 1) || (db[i] !== x && db[i] !== 1))) return undefined;
  const size = dims.reduce((x, y) => x * y, 1);
  // The common cases (weights · per-row or per-column scales): one operand whole, the other constant
  // along trailing axes (per row: small[i / inner]) or along leading ones (per column: small[i % inner]).
  const rows = (big: number[], small: number[]) => {
    let k = rank;
    while (k > 0 && small[k - 1] === 1) k--;
    return big.every((d, i) => (i < k ? small[i] === d : true)) ? big.slice(k).reduce((x, y) => x * y, 1) : 0;
  };
  const columns = (big: number[], small: number[]) => {
    let k = 0;
    while (k < rank && small[k] === 1) k++;
    return big.every((d, i) => (i >= k ? small[i] === d : true))
      ? big.slice(k).reduce((x, y) => x * y, 1)
      : 0;
  };
  for (const [big, small, bd, sd] of [
    [a, b, da, db],
    [b, a, db, da],
  ] as const) {
    if (!bd.every((d, i) => d === dims[i])) continue;
    const out = new Float32Array(size);
    const x = big.data;
    const y = small.data;
    const perRow = rows(bd, sd);
    if (perRow > 0) {
      scaleRows(x, y, perRow, out);
      return { dims, data: out };
    }
    const perColumn = columns(bd, sd);
    if (perColumn > 0) {
      scaleColumns(x, y, perColumn, out);
      return { dims, data: out };
    }
  }
  const strides = (d: number[]) => {
    const s = new Array<number>(rank).fill(0);
    for (let i = rank - 1, acc = 1; i >= 0; i--) {
      s[i] = d[i] === 1 ? 0 : acc;
      acc *= d[i];
    }
    return s;
  };
  const sa = strides(da);
  const sb = strides(db);
  const out = new Float32Array(size);
  const index = new Array<number>(rank).fill(0);
  for (let n = 0; n < size; n++) {
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < rank; i++) {
      ia += index[i] * sa[i];
      ib += index[i] * sb[i];
    }
    out[n] = a.data[ia] * b.data[ib];
    for (let i = rank - 1; i >= 0 && ++index[i] === dims[i]; i--) index[i] = 0;
  }
  return { dims, data: out };
}

/**
 * Folds Cast-to-float and Mul nodes whose inputs are all initializers (int8 weights and their scales)
 * into float initializers, and moves the weights to external data, one entry per weight named
 * `<location>.<n>` (what the model's initializers then point to, and the name onnxruntime is given its
 * bytes under; the unfolded ones are views into `model`). Float32 products, as
 * onnxruntime computes them: the result is what the unfolded graph computes. A model with no weights to
 * fold or move comes back as it is.
 */
export function foldDequantization(model: Uint8Array, location: string): ModelSource {
  const top = fields(model);
  const graphField = top.find((f) => f.field === 7 && f.body);
  if (!graphField?.body) return model;
  const graph = fields(graphField.body);
  const constants = new Map<string, Constant>();
  const initializerName = new Map<Field, string>();
  for (const f of graph)
    if (f.field === 5 && f.body) {
      const { name, constant } = readTensor(f.body);
      initializerName.set(f, name);
      if (constant) constants.set(name, constant);
    }
  const folded = new Map<string, Constant>();
  const removed = new Set<Field>();
  const value = (name: string) => folded.get(name) ?? constants.get(name);
  for (const f of graph) {
    if (f.field !== 1 || !f.body) continue;
    const node = readNode(f.body);
    if (node.outputs.length !== 1) continue;
    let result: Constant | undefined;
    if (node.op === 'Cast' && node.to === FLOAT && node.inputs.length === 1) {
      // int8 → float32 is exact: the values stay int8 until a product reads them (or writeTensor
      // converts them), which saves a pass over millions of weights and their float copy.
      const x = value(node.inputs[0]);
      if (x) result = { dims: x.dims, data: x.data };
    } else if (node.op === 'Mul' && node.inputs.length === 2) {
      const [a, b] = node.inputs.map(value);
      if (a && b) result = multiply(a, b);
    }
    if (result) {
      folded.set(node.outputs[0], result);
      removed.add(f);
    }
  }
  // What the remaining nodes and the graph's outputs still read.
  const used = new Set<string>();
  for (const f of graph) {
    if (f.field === 1 && f.body && !removed.has(f))
      for (const input of readNode(f.body).inputs) used.add(input);
    if (f.field === 12 && f.body)
      for (const g of fields(f.body)) if (g.field === 1 && g.body) used.add(text(g.body));
  }
  // The new model is assembled from parts and copied once, at the end; the weights stay where they are.
  const external = new ExternalData(location);
  const parts: Uint8Array[] = [];
  for (const f of graph) {
    if (removed.has(f)) continue;
    const name = initializerName.get(f);
    if (name !== undefined && constants.has(name) && !used.has(name)) continue; // read only by folded nodes
    if (name !== undefined && f.body) parts.push(...lengthDelimited(5, externalize(f.body, external)));
    else parts.push(graphField.body.subarray(f.start, f.end));
  }
  for (const [name, constant] of folded)
    if (used.has(name)) parts.push(...lengthDelimited(5, writeTensor(name, constant, external)));
  if (folded.size === 0 && external.entries.length === 0) return model;
  const out: Uint8Array[] = [];
  for (const f of top)
    out.push(...(f === graphField ? lengthDelimited(7, parts) : [model.subarray(f.start, f.end)]));
  if (external.entries.length === 0) return concat(out);
  return { model: concat(out), externalData: external.entries };
}

/** A bundle graph file folded, its weights apart under `<file>.weights`. */
export function foldGraph(file: string, bytes: Uint8Array): ModelSource {
  return foldDequantization(bytes, `${file}.weights`);
}
