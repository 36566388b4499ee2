import type { Graph, Node, Value } from './ir.js';
import * as op from './ops.js';
import { GRADIENT_RULES } from './gradient-rules.js';

/**
 * One input's share of a gradient, kept symbolic until every consumer has given its share, so that
 * shares can be combined better than by adding them up:
 * - `dense`: a gradient of the input's full shape;
 * - `slice`: the gradient of x[start:end] along `axis` (the shares of a time-unrolled input, one per
 *   step, join into one Concat instead of T padded copies);
 * - `matmulT`: aᵀ·g, the share of a weight used as MatMul's right operand (a weight used at every time
 *   step gets one [K, T·rows]·[T·rows, N] product instead of T small ones added up).
 */
export type Contribution =
  | { kind: 'dense'; value: Value }
  | { kind: 'slice'; axis: number; start: number; end: number; value: Value }
  | { kind: 'matmulT'; a: Value; g: Value };

/** A gradient rule: the output gradients (undefined where an output reaches no loss) → input shares. */
export type GradientRule = (
  g: Graph,
  node: Node,
  outGrads: readonly (Value | undefined)[],
  needs: readonly boolean[],
) => (Contribution | Value | undefined)[];

/**
 * Reverse-mode autodiff: appends to `g` the nodes computing d(loss)/d(x) for each x of `wrt`, and
 * returns them (zeros where x does not reach the loss). `loss` must be a scalar.
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[]): Value[] {
  if (loss.shape.length !== 0) throw new Error(`autodiff: the loss must be a scalar, not [${loss.shape}]`);
  const nodes = [...g.nodes]; // the forward graph; backward nodes are appended after these
  // Values that depend on a wrt value, and nodes on a path from one to the loss.
  const fromWrt = new Set(wrt.map((v) => v.id));
  for (const n of nodes)
    if (n.inputs.some((v) => fromWrt.has(v.id)) && !NO_GRADIENT.has(n.op))
      for (const o of n.outputs) fromWrt.add(o.id);
  const toLoss = new Set([loss.id]);
  for (let i = nodes.length - 1; i >= 0; i--)
    if (nodes[i].outputs.some((o) => toLoss.has(o.id))) for (const v of nodes[i].inputs) toLoss.add(v.id);
  const relevant = (v: Value) => fromWrt.has(v.id) && toLoss.has(v.id);

  const shares = new Map<number, Contribution[]>();
  const done = new Map<number, Value | undefined>();
  const gradOf = (v: Value): Value | undefined => {
    if (done.has(v.id)) return done.get(v.id);
    const result = combine(g, v, shares.get(v.id) ?? []);
    done.set(v.id, result);
    return result;
  };
  shares.set(loss.id, [{ kind: 'dense', value: op.scalar(g, 1) }]);

  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node.outputs.some(relevant)) continue;
    const needs = node.inputs.map(relevant);
    if (!needs.some(Boolean)) continue;
    const outGrads = node.outputs.map((o) => (relevant(o) ? gradOf(o) : undefined));
    if (outGrads.every((x) => x === undefined)) continue;
    const rule = GRADIENT_RULES[node.op];
    if (!rule) throw new Error(`autodiff: no gradient rule for ${node.op}`);
    const inGrads = rule(g, node, outGrads, needs);
    node.inputs.forEach((input, k) => {
      const share = inGrads[k];
      if (!needs[k] || share === undefined) return;
      if (done.has(input.id)) throw new Error(`autodiff: ${input.name} got a gradient after it was used`);
      const list = shares.get(input.id) ?? [];
      list.push('kind' in share ? share : { kind: 'dense', value: share });
      shares.set(input.id, list);
    });
  }
  return wrt.map((v) => gradOf(v) ?? op.zerosLike(g, v));
}

/** Operators through which no gradient flows (integer and boolean results, shapes). */
const NO_GRADIENT = new Set(['Shape', 'Size', 'Range', 'Greater', 'Cast', 'ConstantOfShape']);

/** One gradient from an input's shares; see Contribution for why shares are grouped by kind. */
function combine(g: Graph, x: Value, list: Contribution[]): Value | undefined {
  if (list.length === 0) return undefined;
  const terms: Value[] = [];
  const products = list.filter((c) => c.kind === 'matmulT');
  const narrow = products.length > 0 && (x.shape[x.shape.length - 1] as number) < 32;
  if (narrow)
    // A narrow weight (e.g. attention's score vector): concatenating the large aᵀ would cost more
    // than the small products it saves.
    for (const c of products) terms.push(op.matMul(g, op.transpose(g, c.a), c.g));
  else if (products.length > 0) {
    const a = op.concat(
      g,
      products.map((c) => c.a),
      0,
    );
    const gs = op.concat(
      g,
      products.map((c) => c.g),
      0,
    );
    terms.push(op.matMul(g, op.transpose(g, a), gs));
  }
  const slices = list.filter((c) => c.kind === 'slice');
  if (slices.length > 0) terms.push(joinSlices(g, x, slices));
  for (const c of list) if (c.kind === 'dense') terms.push(c.value);
  if (terms.length === 1) return terms[0];
  return g.node('Sum', terms, {}, [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** The gradient of x from the gradients of slices of it along one axis: a Concat, zeros in the gaps. */
function joinSlices(g: Graph, x: Value, slices: Extract<Contribution, { kind: 'slice' }>[]): Value {
  const axis = slices[0].axis;
  const length = x.shape[axis];
  if (typeof length !== 'number' || slices.some((s) => s.axis !== axis))
    throw new Error(`autodiff: slices of ${x.name} along a symbolic or mixed axis`);
  const sorted = [...slices].sort((p, q) => p.start - q.start);
  const overlapping = sorted.some((s, i) => i > 0 && s.start < sorted[i - 1].end);
  if (overlapping) {
    // Rare: add the slices one by one into zeros, each padded to the whole.
    const padded = sorted.map((s) => joinSlices(g, x, [s]));
    return g.node('Sum', padded, {}, [{ dtype: x.dtype, shape: x.shape }])[0];
  }
  const pieces: Value[] = [];
  let at = 0;
  const gap = (from: number, to: number) => {
    const shape = [...x.shape];
    shape[axis] = to - from;
    if (!shape.every((d) => typeof d === 'number'))
      throw new Error(`autodiff: a gap in the slices of ${x.name}, whose shape is symbolic`);
    pieces.push(op.zeros(g, x.dtype, shape as number[]));
  };
  for (const s of sorted) {
    if (s.start > at) gap(at, s.start);
    pieces.push(s.value);
    at = s.end;
  }
  if (at < length) gap(at, length);
  return op.concat(g, pieces, axis);
}
