import { type DType, type Dim, type Graph, type Shape, type Value, sameDim, shapeString } from './ir.js';

/**
 * The operators models are written with: each builds one ONNX node (opset 18) and infers its output
 * shape, so autodiff knows which axes a gradient must be summed over. Shapes may hold symbols
 * ('rows') that the runtime fixes.
 */

export const OPSET = 18;

function fail(op: string, message: string): never {
  throw new Error(`graph ${op}: ${message}`);
}

function axisOf(rank: number, axis: number): number {
  const a = axis < 0 ? rank + axis : axis;
  if (a < 0 || a >= rank) fail('axis', `axis ${axis} outside rank ${rank}`);
  return a;
}

/** Numpy broadcasting of two shapes (right-aligned); a symbol meets a 1 or itself. */
export function broadcastShapes(a: Shape, b: Shape, op = 'broadcast'): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else fail(op, `shapes ${shapeString(a)} and ${shapeString(b)} do not broadcast`);
  }
  return out;
}

const sameAsFirst = ([x]: readonly Value[]) => [{ dtype: x.dtype, shape: x.shape }];

const scalarCache = new WeakMap<Graph, Map<string, Value>>();

/** A float (or int64) scalar constant, one per value and graph. */
export function scalar(g: Graph, value: number, dtype: DType = 'float32'): Value {
  let cache = scalarCache.get(g);
  if (!cache) scalarCache.set(g, (cache = new Map()));
  const key = `${dtype}:${value}`;
  let v = cache.get(key);
  if (!v) {
    const data =
      dtype === 'float32'
        ? Float32Array.of(value)
        : dtype === 'int32'
          ? Int32Array.of(value)
          : BigInt64Array.of(BigInt(value));
    v = g.constant(`c_${dtype}_${value}`.replace(/[^\w]/g, '_'), dtype, [], data);
    cache.set(key, v);
  }
  return v;
}

/** An int64 vector constant (shapes, axes, split sizes), one per content and graph. */
export function ints(g: Graph, values: readonly number[]): Value {
  let cache = scalarCache.get(g);
  if (!cache) scalarCache.set(g, (cache = new Map()));
  const key = `ints:${values.join(',')}`;
  let v = cache.get(key);
  if (!v) {
    v = g.constant('ints', 'int64', [values.length], BigInt64Array.from(values.map((x) => BigInt(x))));
    cache.set(key, v);
  }
  return v;
}

function binary(op: string, g: Graph, a: Value, b: Value): Value {
  if (a.dtype !== b.dtype) fail(op, `dtypes ${a.dtype} and ${b.dtype} differ`);
  return g.node(op, [a, b], {}, ([x, y]) => [
    { dtype: x.dtype, shape: broadcastShapes(x.shape, y.shape, op) },
  ])[0];
}

export const add = (g: Graph, a: Value, b: Value) => binary('Add', g, a, b);
export const sub = (g: Graph, a: Value, b: Value) => binary('Sub', g, a, b);
export const mul = (g: Graph, a: Value, b: Value) => binary('Mul', g, a, b);
export const div = (g: Graph, a: Value, b: Value) => binary('Div', g, a, b);

function unary(op: string, g: Graph, x: Value): Value {
  return g.node(op, [x], {}, sameAsFirst)[0];
}

export const sigmoid = (g: Graph, x: Value) => unary('Sigmoid', g, x);
export const tanh = (g: Graph, x: Value) => unary('Tanh', g, x);
export const relu = (g: Graph, x: Value) => unary('Relu', g, x);
export const exp = (g: Graph, x: Value) => unary('Exp', g, x);
export const log = (g: Graph, x: Value) => unary('Log', g, x);
export const neg = (g: Graph, x: Value) => unary('Neg', g, x);
export const identity = (g: Graph, x: Value) => unary('Identity', g, x);

export function softmax(g: Graph, x: Value, axis = -1): Value {
  return g.node('Softmax', [x], { axis: axisOf(x.shape.length, axis) }, sameAsFirst)[0];
}

export function logSoftmax(g: Graph, x: Value, axis = -1): Value {
  return g.node('LogSoftmax', [x], { axis: axisOf(x.shape.length, axis) }, sameAsFirst)[0];
}

/**
 * Matrix product with numpy semantics: [..., M, K] · [..., K, N]. Batch dimensions broadcast; a
 * 2-D right operand is shared by every batch.
 */
export function matMul(g: Graph, a: Value, b: Value): Value {
  return g.node('MatMul', [a, b], {}, ([x, y]) => {
    if (x.shape.length < 2 || y.shape.length < 2) fail('MatMul', 'operands must have rank ≥ 2');
    const [m, k] = x.shape.slice(-2);
    const [k2, n] = y.shape.slice(-2);
    if (k !== k2)
      fail('MatMul', `inner dimensions differ: ${shapeString(x.shape)} · ${shapeString(y.shape)}`);
    const batch = broadcastShapes(x.shape.slice(0, -2), y.shape.slice(0, -2), 'MatMul');
    return [{ dtype: x.dtype, shape: [...batch, m, n] }];
  })[0];
}

/**
 * onnxruntime's DynamicQuantizeMatMul (com.microsoft): a · ((q − 128) · scale) with uint8 `q` [K, N],
 * its zero point 128 and a scale per column [N]; `a` is quantized to uint8 at each run (one scale for
 * the tensor) and the product runs in integers. Weights as uint8 with a zero point, not int8: on x86
 * without VNNI the u8·s8 kernel adds pairs of products in int16 and saturates, the u8·u8 one is exact.
 */
export function dynamicQuantizeMatMul(g: Graph, a: Value, q: Value, scale: Value, zeroPoint: Value): Value {
  return g.node('DynamicQuantizeMatMul', [a, q, scale, zeroPoint], {}, ([x, w]) => {
    if (w.shape.length !== 2 || w.dtype !== 'uint8')
      fail('DynamicQuantizeMatMul', 'weights must be uint8 [K, N]');
    if (!sameDim(x.shape[x.shape.length - 1], w.shape[0]))
      fail(
        'DynamicQuantizeMatMul',
        `inner dimensions differ: ${shapeString(x.shape)} · ${shapeString(w.shape)}`,
      );
    return [{ dtype: 'float32', shape: [...x.shape.slice(0, -1), w.shape[1]] }];
  })[0];
}

/** Rows of `data` along `axis` picked by integer `indices` (embedding lookup at axis 0). */
export function gather(g: Graph, data: Value, indices: Value, axis = 0): Value {
  const a = axisOf(data.shape.length, axis);
  return g.node('Gather', [data, indices], { axis: a }, ([d, i]) => [
    { dtype: d.dtype, shape: [...d.shape.slice(0, a), ...i.shape, ...d.shape.slice(a + 1)] },
  ])[0];
}

export function gatherElements(g: Graph, data: Value, indices: Value, axis: number): Value {
  const a = axisOf(data.shape.length, axis);
  return g.node('GatherElements', [data, indices], { axis: a }, ([d, i]) => [
    { dtype: d.dtype, shape: i.shape },
  ])[0];
}

/** `data` with `updates` added at `indices` along `axis` (duplicates add up). */
export function scatterElementsAdd(
  g: Graph,
  data: Value,
  indices: Value,
  updates: Value,
  axis: number,
): Value {
  const a = axisOf(data.shape.length, axis);
  return g.node('ScatterElements', [data, indices, updates], { axis: a, reduction: 'add' }, sameAsFirst)[0];
}

/**
 * `data` with rows `updates[i]` added at row `rowIds[i]` (int64 [n, 1]) of its first axis: a
 * row-wise scatter-add, the gradient of a row lookup (a row picked twice adds up).
 */
export function scatterRowsAdd(g: Graph, data: Value, rowIds: Value, updates: Value): Value {
  return g.node('ScatterND', [data, rowIds, updates], { reduction: 'add' }, sameAsFirst)[0];
}

/** The number of elements of x, an int64 scalar. */
export function size(g: Graph, x: Value): Value {
  return g.node('Size', [x], {}, [{ dtype: 'int64', shape: [] }])[0];
}

export function concat(g: Graph, xs: readonly Value[], axis: number): Value {
  if (xs.length === 1) return xs[0];
  const a = axisOf(xs[0].shape.length, axis);
  return g.node('Concat', xs, { axis: a }, (ins) => {
    let total: Dim = 0;
    for (const x of ins) {
      const d = x.shape[a];
      total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
    }
    const shape = [...ins[0].shape];
    shape[a] = total;
    return [{ dtype: ins[0].dtype, shape }];
  })[0];
}

/** Cuts `x` along `axis` into parts of the given sizes. */
export function split(g: Graph, x: Value, axis: number, sizes: readonly number[]): Value[] {
  const a = axisOf(x.shape.length, axis);
  const whole = sizes.reduce((s, n) => s + n, 0);
  if (typeof x.shape[a] === 'number' && x.shape[a] !== whole)
    fail('Split', `sizes add up to ${whole}, the axis has ${x.shape[a]}`);
  return g.node('Split', [x, ints(g, sizes)], { axis: a }, ([v]) =>
    sizes.map((n) => {
      const shape = [...v.shape];
      shape[a] = n;
      return { dtype: v.dtype, shape };
    }),
  );
}

/** x[start:end] along one axis (static bounds). */
export function slice(g: Graph, x: Value, axis: number, start: number, end: number): Value {
  const a = axisOf(x.shape.length, axis);
  return g.node('Slice', [x, ints(g, [start]), ints(g, [end]), ints(g, [a])], {}, ([v]) => {
    const shape = [...v.shape];
    shape[a] = end - start;
    return [{ dtype: v.dtype, shape }];
  })[0];
}

/** The shape of x at run time, an int64 vector. */
export function shapeOf(g: Graph, x: Value): Value {
  return g.node('Shape', [x], {}, [{ dtype: 'int64', shape: [x.shape.length] }])[0];
}

/** `x` reshaped to the shape of `like` (which may hold symbols: then read at run time). */
export function reshapeAs(g: Graph, x: Value, like: Value): Value {
  if (like.shape.every((d) => typeof d === 'number')) return reshape(g, x, like.shape);
  const shape = shapeOf(g, like);
  return g.node('Reshape', [x, shape], {}, [{ dtype: x.dtype, shape: like.shape }])[0];
}

/** Reshape to `shape`; one entry may be -1, and a symbol entry copies that input dimension by name. */
export function reshape(g: Graph, x: Value, shape: readonly Dim[]): Value {
  const spec: number[] = [];
  const out: Dim[] = [];
  let known = 1;
  let inferred = -1;
  shape.forEach((d, i) => {
    if (typeof d === 'string') {
      const at = x.shape.indexOf(d);
      if (at < 0) fail('Reshape', `symbol ${d} is not a dimension of ${shapeString(x.shape)}`);
      if (at !== i) fail('Reshape', `symbol ${d} must keep its position ${at}`);
      spec.push(0);
      out.push(d);
    } else if (d === -1) {
      inferred = i;
      spec.push(-1);
      out.push(-1);
    } else {
      spec.push(d);
      out.push(d);
      known *= d;
    }
  });
  if (inferred >= 0) {
    const staticIn = x.shape
      .filter((d) => typeof d === 'number')
      .reduce<number>((a, d) => a * (d as number), 1);
    const symbolsIn = x.shape.filter((d) => typeof d === 'string');
    const symbolsOut = shape.filter((d) => typeof d === 'string');
    // Across symbols the size is known only at run time: name it by how it was made.
    out[inferred] =
      symbolsIn.length === symbolsOut.length ? staticIn / known : `(${x.shape.join('·')})/${known}`;
  }
  return g.node('Reshape', [x, ints(g, spec)], {}, [{ dtype: x.dtype, shape: out }])[0];
}

export function transpose(g: Graph, x: Value, perm?: readonly number[]): Value {
  const p = perm ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  return g.node('Transpose', [x], { perm: p }, ([v]) => [
    { dtype: v.dtype, shape: p.map((i) => v.shape[i]) },
  ])[0];
}

export function unsqueeze(g: Graph, x: Value, axis: number): Value {
  const rank = x.shape.length + 1;
  const a = axis < 0 ? rank + axis : axis;
  return g.node('Unsqueeze', [x, ints(g, [a])], {}, ([v]) => {
    const shape = [...v.shape];
    shape.splice(a, 0, 1);
    return [{ dtype: v.dtype, shape }];
  })[0];
}

export function squeeze(g: Graph, x: Value, axis: number): Value {
  const a = axisOf(x.shape.length, axis);
  if (x.shape[a] !== 1) fail('Squeeze', `axis ${a} of ${shapeString(x.shape)} is not 1`);
  return g.node('Squeeze', [x, ints(g, [a])], {}, ([v]) => [
    { dtype: v.dtype, shape: v.shape.filter((_, i) => i !== a) },
  ])[0];
}

function reduce(op: string, g: Graph, x: Value, axes: readonly number[], keepDims: boolean): Value {
  const as = axes.map((a) => axisOf(x.shape.length, a)).sort((p, q) => p - q);
  return g.node(op, [x, ints(g, as)], { keepdims: keepDims ? 1 : 0 }, ([v]) => [
    {
      dtype: v.dtype,
      shape: keepDims
        ? v.shape.map((d, i) => (as.includes(i) ? 1 : d))
        : v.shape.filter((_, i) => !as.includes(i)),
    },
  ])[0];
}

export const reduceSum = (g: Graph, x: Value, axes: readonly number[], keepDims = false) =>
  reduce('ReduceSum', g, x, axes, keepDims);
export const reduceMean = (g: Graph, x: Value, axes: readonly number[], keepDims = false) =>
  reduce('ReduceMean', g, x, axes, keepDims);
/** Σ x² over every element: a scalar. */
export const sumSquares = (g: Graph, x: Value) =>
  reduce(
    'ReduceSumSquare',
    g,
    x,
    x.shape.map((_, i) => i),
    false,
  );

/** `x` broadcast to the (static) shape of `like`. */
export function expandAs(g: Graph, x: Value, like: Value): Value {
  if (like.shape.every((d) => typeof d === 'number'))
    return g.node('Expand', [x, ints(g, like.shape as number[])], {}, [
      { dtype: x.dtype, shape: like.shape },
    ])[0];
  const shape = shapeOf(g, like);
  return g.node('Expand', [x, shape], {}, [{ dtype: x.dtype, shape: like.shape }])[0];
}

/** Zeros of a static shape (an Expand of one scalar: no buffer in the file). */
export function zeros(g: Graph, dtype: DType, shape: readonly number[]): Value {
  return g.node('Expand', [scalar(g, 0, dtype), ints(g, shape)], {}, [{ dtype, shape }])[0];
}

/** Zeros of the shape of `like`. */
export function zerosLike(g: Graph, like: Value): Value {
  if (like.shape.every((d) => typeof d === 'number')) return zeros(g, like.dtype, like.shape as number[]);
  const shape = shapeOf(g, like);
  return g.node('ConstantOfShape', [shape], { value: 0 }, [{ dtype: like.dtype, shape: like.shape }])[0];
}

/** 1 where x > 0, else 0, as floats (the derivative of relu). */
export function positive(g: Graph, x: Value): Value {
  const mask = g.node('Greater', [x, scalar(g, 0, x.dtype)], {}, ([v]) => [
    { dtype: 'bool', shape: v.shape },
  ])[0];
  return g.node('Cast', [mask], { to: 1 }, ([v]) => [{ dtype: 'float32', shape: v.shape }])[0];
}

export function cast(g: Graph, x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  const code = { float32: 1, int32: 6, int64: 7, bool: 9, int8: 3, uint8: 2 }[to];
  return g.node('Cast', [x], { to: code }, ([v]) => [{ dtype: to, shape: v.shape }])[0];
}

/**
 * Pseudo-operator: per-row softmax cross-entropy with label smoothing, weighted per row.
 * loss[n] = w[n]·(−(1−ε)·log p[n, t[n]] − ε·mean_v log p[n, v]). Its gradient is the fused
 * (softmax − target)·w rule; `lowerPseudoOps` turns the forward into ONNX operators at export.
 */
export function softmaxCrossEntropy(
  g: Graph,
  logits: Value,
  targets: Value,
  weights: Value,
  epsilon: Value,
): Value {
  if (logits.shape.length !== 2) fail('SoftmaxCrossEntropy', 'logits must be rows × classes');
  return g.node('SoftmaxCrossEntropy', [logits, targets, weights, epsilon], {}, ([l]) => [
    { dtype: 'float32', shape: [l.shape[0]] },
  ])[0];
}
