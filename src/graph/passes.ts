import { Graph, type Attrs, type OutputSpecs, type Value } from './ir.js';
import * as op from './ops.js';

/**
 * Graphs that rewrite what a model builds as it builds it. A model's code stays the plain one-step
 * maths; these passes make the unrolled training graph and the decoding graph fast.
 */

/** How a value of an unrolled graph varies: not at all, per batch row, per time step and row, per step. */
export type TimeTag = 'const' | 'row' | 'time' | 'step';

/**
 * A graph for a step function unrolled over `steps` time steps of `rows` rows, that hoists out of the
 * loop whatever does not depend on the recurrent state. Inputs that hold every step at once
 * ('time' values: the tokens, the dropout masks) are laid out time-major, [steps·rows, …]; an op whose
 * inputs are all 'time', 'row' or 'const' is built once for all steps (the common-subexpression table
 * returns it on later steps), so the embedding lookup and the LSTM's input product run as one big
 * product instead of `steps` small ones. An op that meets the state reads step t's rows of a 'time'
 * input through a Slice, and autodiff joins the slices' gradients back with one Concat.
 */
export class UnrolledGraph extends Graph {
  private readonly tags = new Map<number, TimeTag>();
  /** The step being traced; -1 outside the loop (no tagging). */
  step = -1;
  private slicing = false;

  constructor(
    name: string,
    readonly rows: number,
    readonly steps: number,
  ) {
    super(name);
  }

  tag(v: Value, tag: TimeTag): Value {
    this.tags.set(v.id, tag);
    return v;
  }

  tagOf(v: Value): TimeTag {
    return this.tags.get(v.id) ?? 'const';
  }

  /** Rows t·rows … (t+1)·rows of a 'time' value: its part for the current step. */
  atStep(v: Value): Value {
    if (this.tagOf(v) !== 'time') return v;
    if (this.step < 0) throw new Error('unrolled graph: a per-step slice outside the loop');
    this.slicing = true;
    try {
      const part = op.slice(this, v, 0, this.step * this.rows, (this.step + 1) * this.rows);
      return this.tag(part, 'step');
    } finally {
      this.slicing = false;
    }
  }

  override node(
    type: string,
    inputs: readonly Value[],
    attrs: Attrs,
    outputs: OutputSpecs,
    hint?: string,
  ): Value[] {
    if (this.slicing || this.step < 0) return super.node(type, inputs, attrs, outputs, hint);
    const tags = new Set(inputs.map((v) => this.tagOf(v)));
    let result: TimeTag = 'const';
    let adapted = inputs;
    if (tags.has('step') || (tags.has('time') && tags.has('row'))) {
      result = 'step';
      adapted = inputs.map((v) => this.atStep(v));
      if (typeof outputs !== 'function' && adapted.some((v, i) => v !== inputs[i]))
        throw new Error(`unrolled graph: ${type} needs its output shapes inferred to take a step's slice`);
    } else if (tags.has('time')) result = 'time';
    else if (tags.has('row')) result = 'row';
    const outs = super.node(type, adapted, attrs, outputs, hint);
    for (const o of outs) this.tag(o, result);
    return outs;
  }
}

/**
 * Which products with int8 weights run in integers: all (true), none (false), or those whose weight is
 * one of these parameters (names as a model's layout gives them, e.g. "output.kernel", whatever the
 * ensemble member).
 */
export type IntegerProducts = boolean | readonly string[];

/** A config.json value as IntegerProducts (anything else: false). */
export function asIntegerProducts(v: unknown): IntegerProducts {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return v === true;
}

/** Whether any product runs in integers. */
export function anyIntegerProducts(p: IntegerProducts | undefined): boolean {
  return Array.isArray(p) ? p.length > 0 : p === true;
}

/**
 * The deepest product (rows of the weight) whose integer sums stay exact in float32: 255 · 127 per term
 * (a centred uint8 activation times an int8 weight), below 2^24 in all.
 */
const MAX_EXACT_FLOAT_DEPTH = Math.floor(2 ** 24 / (255 * 127));

/** The fewest columns of a weight whose products run in integers. */
const MIN_INTEGER_COLUMNS = 16;

/**
 * A graph for inference with constant weights: MatMul(Gather(table, ids), W) with a constant table and
 * W is built as Gather(MatMul(table, W), ids), which onnxruntime folds into one constant table when it
 * loads the graph. A decoding step of the merge model then starts with a row lookup instead of an
 * embedding lookup and a product (the embedding is "folded into the LSTM input kernel").
 *
 * With `integerProducts`, a product with an int8 weight scaled per column (Mul(Cast(q), scale), as
 * ConstantScope builds a Q8 weight) runs as onnxruntime's DynamicQuantizeMatMul: the activations are
 * quantized at each run and the product runs in integers, so a decoding step, whose small products are
 * bound by reading their weights, reads a quarter of the bytes.
 */
export class InferenceGraph extends Graph {
  /** The uint8 form of each int8 weight (values, scales, zero points), made once however many products read it. */
  private readonly unsignedWeights = new Map<string, [Value, Value, Value]>();
  /**
   * `foldInt8Lookups`: fold the lookup into the product also when the table or the weight is an int8
   * matrix (Mul(Cast(int8), scale)): onnxruntime then computes a float table of vocabulary × width at
   * load (2533 × 2048 floats, 21 MB, for the 512-wide attention model) and a step reads one row of it,
   * where it would quantize the looked-up rows and multiply. Off where a runtime would not fold it
   * (onnxruntime-web folds no int8 dequantization) or memory is tight.
   */
  constructor(
    name: string,
    private readonly integerProducts: IntegerProducts = false,
    private readonly foldInt8Lookups = false,
    private readonly integersInFloats = false,
  ) {
    super(name);
  }

  /**
   * What DynamicQuantizeMatMul computes, in standard operators over floats: the activations quantized
   * by DynamicQuantizeLinear (the same scale, zero point and rounding), the integer product as a float
   * MatMul of integer values (exact: every partial sum stays below 2^24), then × (activation scale ·
   * column scale), that product rounded once as onnxruntime's kernel does. Bit for bit the same output
   * (test/export), and onnxruntime-web runs it faster than its integer kernel.
   */
  private integerProductInFloats(a: Value, { cast, scale }: Int8Weight): Value {
    const [q, aScale, aZero] = this.node('DynamicQuantizeLinear', [a], {}, [
      { dtype: 'uint8', shape: a.shape },
      { dtype: 'float32', shape: [] },
      { dtype: 'uint8', shape: [] },
    ]);
    const centred = op.sub(this, op.cast(this, q, 'float32'), op.cast(this, aZero, 'float32'));
    return op.mul(this, op.matMul(this, centred, cast), op.mul(this, aScale, scale));
  }

  /** Whether the product with this int8 weight (a ConstantScope name: member prefix, `.q8`) runs in integers. */
  private inIntegers(weight: string): boolean {
    const p = this.integerProducts;
    if (!Array.isArray(p)) return p === true;
    return p.includes(weight.replace(/\.q8$/, '').replace(/^m\d+\./, ''));
  }

  /** A constant of the graph, or (with foldInt8Lookups) an int8 matrix times constant scales. */
  private constantLike(v: Value): boolean {
    return !!v.data || (this.foldInt8Lookups && int8Weight(v) !== undefined);
  }

  override node(
    type: string,
    inputs: readonly Value[],
    attrs: Attrs,
    outputs: OutputSpecs,
    hint?: string,
  ): Value[] {
    if (type === 'Gather' && !this.foldInt8Lookups && attrs.axis === 0) {
      // A lookup in an int8 table scaled per row (an embedding) dequantizes only the rows looked up:
      // float(q[id]) · scale[id], the same product as the whole table's, but a runtime that does not
      // fold the table at load (onnxruntime-web) neither computes it at every step nor needs the
      // bundle's loader to fold it into floats (5 MB for the attention model's vocabulary).
      const [table, ids] = inputs;
      const weight = int8Weight(table);
      const rows = weight?.scale.shape;
      if (
        weight &&
        table.shape.length === 2 &&
        rows?.length === 2 &&
        rows[0] === table.shape[0] &&
        rows[1] === 1
      ) {
        const q = weight.cast.producer!.inputs[0];
        return [
          op.mul(this, op.cast(this, op.gather(this, q, ids), 'float32'), op.gather(this, weight.scale, ids)),
        ];
      }
    }
    if (type === 'MatMul') {
      const [a, b] = inputs;
      const lookup = a.producer;
      if (
        lookup?.op === 'Gather' &&
        lookup.attrs.axis === 0 &&
        this.constantLike(lookup.inputs[0]) &&
        this.constantLike(b) &&
        b.shape.length === 2 &&
        lookup.inputs[0].shape.length === 2
      ) {
        const table = op.matMul(this, lookup.inputs[0], b);
        return [op.gather(this, table, lookup.inputs[1], 0)];
      }
      // A product of constants (such a folded table) stays in floats: onnxruntime computes it at load.
      const weight = this.constantLike(a) ? undefined : int8Columns(b);
      // A product with a few columns (attention's score, one column) would quantize a large input to
      // save reading a tiny weight: it stays in floats (the weight's dequantization folds at load).
      if (weight && weight.scales.length >= MIN_INTEGER_COLUMNS && this.inIntegers(weight.name)) {
        if (this.integersInFloats && (b.shape[0] as number) <= MAX_EXACT_FLOAT_DEPTH)
          return [this.integerProductInFloats(a, weight)];
        let w = this.unsignedWeights.get(weight.name);
        if (!w) {
          const name = weight.name.replace(/\.q8$/, '');
          const cols = weight.scales.length;
          w = [
            this.constant(`${name}.u8`, 'uint8', b.shape, toUnsigned(weight.values)),
            this.constant(`${name}.u8_scale`, 'float32', [cols], weight.scales),
            this.constant(`${name}.u8_zero`, 'uint8', [cols], new Uint8Array(cols).fill(128)),
          ];
          this.unsignedWeights.set(weight.name, w);
        }
        return [op.dynamicQuantizeMatMul(this, a, ...w)];
      }
    }
    return super.node(type, inputs, attrs, outputs, hint);
  }
}

/**
 * int8 → uint8 with zero point 128 (v + 128: the sign bit flipped). A plain loop: Uint8Array.from with a
 * mapping function walks a typed array through its iterator, ~1 s for a model's few million weights.
 */
function toUnsigned(values: Int8Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint8Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = bytes[i] ^ 0x80;
  return out;
}

/** The int8 values and per-column scales of a weight built as Mul(Cast(int8 constant), [1, N] constant). */
function int8Columns(w: Value): Int8Weight | undefined {
  const weight = int8Weight(w);
  if (!weight || w.shape.length !== 2) return undefined;
  const { shape } = weight.scale;
  if (shape.length !== 2 || shape[0] !== 1 || shape[1] !== w.shape[1]) return undefined;
  return weight;
}

/** An int8 weight as ConstantScope builds it: Mul(Cast(int8 constant), float32 constant scales). */
interface Int8Weight {
  /** The int8 constant's name, and its values. */
  name: string;
  values: Int8Array;
  /** The Cast to float (the integer values as floats) and the scales, as graph values. */
  cast: Value;
  scale: Value;
  scales: Float32Array;
}

function int8Weight(w: Value): Int8Weight | undefined {
  const mul = w.producer;
  if (mul?.op !== 'Mul') return undefined;
  const [cast, scale] = mul.inputs;
  const q = cast.producer?.op === 'Cast' ? cast.producer.inputs[0] : undefined;
  if (!(q?.data instanceof Int8Array) || !(scale.data instanceof Float32Array)) return undefined;
  return { name: q.name, values: q.data, cast, scale, scales: scale.data };
}
