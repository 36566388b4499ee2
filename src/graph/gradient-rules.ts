import type { Contribution, GradientRule } from './autodiff.js';
import type { Graph, Node, Value } from './ir.js';
import * as op from './ops.js';

/**
 * One gradient rule per operator. Each gets the node and its outputs' gradients and returns each
 * input's share (undefined where an input needs none). Every rule is checked against finite
 * differences in test/graph/gradient-rules.test.ts.
 */

/** Sums a gradient of a broadcast result back to the operand's shape. */
export function unbroadcast(g: Graph, grad: Value, shape: readonly (number | string)[]): Value {
  const extra = grad.shape.length - shape.length;
  let out = grad;
  if (extra > 0)
    out = op.reduceSum(
      g,
      out,
      Array.from({ length: extra }, (_, i) => i),
      false,
    );
  const axes = shape.flatMap((d, i) => (d === 1 && out.shape[i] !== 1 ? [i] : []));
  if (axes.length > 0) out = op.reduceSum(g, out, axes, true);
  return out;
}

/** The static int64 values of a constant input (axes, bounds, sizes). */
function constInts(v: Value, what: string): number[] {
  if (!(v.data instanceof BigInt64Array)) throw new Error(`autodiff: ${what} must be a constant`);
  return Array.from(v.data, Number);
}

const y0 = (node: Node) => node.outputs[0];

const elementwise =
  (f: (g: Graph, grad: Value, node: Node) => Value): GradientRule =>
  (g, node, [grad]) => [f(g, grad!, node)];

export const GRADIENT_RULES: Record<string, GradientRule> = {
  Identity: (_g, _node, [grad]) => [grad],

  Add: (g, node, [grad]) => node.inputs.map((x) => unbroadcast(g, grad!, x.shape)),
  Sub: (g, node, [grad], needs) => {
    const [a, b] = node.inputs;
    return [unbroadcast(g, grad!, a.shape), needs[1] ? unbroadcast(g, op.neg(g, grad!), b.shape) : undefined];
  },
  Mul: (g, node, [grad], needs) => {
    const [a, b] = node.inputs;
    return [
      needs[0] ? unbroadcast(g, op.mul(g, grad!, b), a.shape) : undefined,
      needs[1] ? unbroadcast(g, op.mul(g, grad!, a), b.shape) : undefined,
    ];
  },
  Div: (g, node, [grad], needs) => {
    const [a, b] = node.inputs;
    const ga = op.div(g, grad!, b);
    return [
      needs[0] ? unbroadcast(g, ga, a.shape) : undefined,
      // d(a/b)/db = −(a/b)/b
      needs[1] ? unbroadcast(g, op.neg(g, op.mul(g, ga, y0(node))), b.shape) : undefined,
    ];
  },
  Sum: (g, node, [grad]) => node.inputs.map((x) => unbroadcast(g, grad!, x.shape)),
  Neg: elementwise((g, grad) => op.neg(g, grad)),
  // σ' = y(1 − y), tanh' = 1 − y², exp' = y, log' = 1/x, relu' = [y > 0]
  Sigmoid: elementwise((g, grad, node) => {
    const y = y0(node);
    return op.mul(g, grad, op.mul(g, y, op.sub(g, op.scalar(g, 1), y)));
  }),
  Tanh: elementwise((g, grad, node) => {
    const y = y0(node);
    return op.mul(g, grad, op.sub(g, op.scalar(g, 1), op.mul(g, y, y)));
  }),
  Exp: elementwise((g, grad, node) => op.mul(g, grad, y0(node))),
  Log: elementwise((g, grad, node) => op.div(g, grad, node.inputs[0])),
  Relu: elementwise((g, grad, node) => op.mul(g, grad, op.positive(g, y0(node)))),

  // dx = y ⊙ (g − Σ g⊙y)
  Softmax: (g, node, [grad]) => {
    const y = y0(node);
    const axis = node.attrs.axis as number;
    return [op.mul(g, y, op.sub(g, grad!, op.reduceSum(g, op.mul(g, grad!, y), [axis], true)))];
  },
  // dx = g − softmax ⊙ Σ g
  LogSoftmax: (g, node, [grad]) => {
    const axis = node.attrs.axis as number;
    return [op.sub(g, grad!, op.mul(g, op.exp(g, y0(node)), op.reduceSum(g, grad!, [axis], true)))];
  },

  MatMul: (g, node, [grad], needs) => {
    const [a, b] = node.inputs;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const swapLast = (x: Value) =>
      op.transpose(
        g,
        x,
        x.shape.map((_, i) => (i < x.shape.length - 2 ? i : 2 * x.shape.length - 3 - i)),
      );
    let ga: Value | undefined;
    let gb: Contribution | Value | undefined;
    if (needs[0]) ga = unbroadcast(g, op.matMul(g, grad!, swapLast(b)), a.shape);
    if (needs[1]) {
      if (rb === 2) {
        // A weight: the share aᵀ·g over every leading row, kept symbolic (see Contribution).
        const k = a.shape[ra - 1];
        const n = b.shape[1];
        const a2 = ra === 2 ? a : op.reshape(g, a, [-1, k]);
        const g2 = ra === 2 ? grad! : op.reshape(g, grad!, [-1, n]);
        gb = { kind: 'matmulT', a: a2, g: g2 };
      } else gb = unbroadcast(g, op.matMul(g, swapLast(a), grad!), b.shape);
    }
    return [ga, gb];
  },

  Gather: (g, node, [grad], needs) => {
    const [data, indices] = node.inputs;
    if ((node.attrs.axis as number) !== 0 || data.shape.length !== 2)
      throw new Error('autodiff: Gather is differentiable only as a row lookup of a matrix');
    if (!needs[0]) return [];
    // Scatter-add the picked rows' gradients back into a zero table (a row picked twice adds up).
    const width = data.shape[1] as number;
    const rows = grad!.shape.length === 2 ? grad! : op.reshape(g, grad!, [-1, width]);
    const flatIndices = indices.shape.length === 1 ? indices : op.reshape(g, indices, [-1]);
    const at = op.unsqueeze(g, op.cast(g, flatIndices, 'int64'), 1); // [n, 1]
    return [op.scatterRowsAdd(g, op.zerosLike(g, data), at, rows)];
  },

  Concat: (g, node, [grad]) => {
    const axis = node.attrs.axis as number;
    const sizes = node.inputs.map((x) => x.shape[axis]);
    if (!sizes.every((d) => typeof d === 'number')) throw new Error('autodiff: Concat along a symbolic axis');
    return op.split(g, grad!, axis, sizes as number[]);
  },
  Split: (g, node, grads) => {
    const axis = node.attrs.axis as number;
    const parts = node.outputs.map((o, k) => grads[k] ?? op.zerosLike(g, o));
    return [op.concat(g, parts, axis)];
  },
  Slice: (_g, node, [grad]) => {
    const [, starts, ends, axes] = node.inputs;
    const [start] = constInts(starts, 'Slice starts');
    const [end] = constInts(ends, 'Slice ends');
    const [axis] = constInts(axes, 'Slice axes');
    return [{ kind: 'slice', axis, start, end, value: grad! }];
  },
  Reshape: (g, node, [grad]) => [op.reshapeAs(g, grad!, node.inputs[0])],
  Unsqueeze: (g, node, [grad]) => [op.reshapeAs(g, grad!, node.inputs[0])],
  Squeeze: (g, node, [grad]) => [op.reshapeAs(g, grad!, node.inputs[0])],
  Transpose: (g, node, [grad]) => {
    const perm = node.attrs.perm as number[];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(g, grad!, inverse)];
  },
  Expand: (g, node, [grad]) => [unbroadcast(g, grad!, node.inputs[0].shape)],

  ReduceSum: (g, node, [grad]) => [spread(g, node, grad!)],
  ReduceMean: (g, node, [grad]) => {
    const x = node.inputs[0];
    const axes = constInts(node.inputs[1], 'ReduceMean axes');
    const count = axes.reduce((n, a) => n * (x.shape[a] as number), 1);
    if (!Number.isFinite(count)) throw new Error('autodiff: ReduceMean over a symbolic axis');
    return [op.mul(g, spread(g, node, grad!), op.scalar(g, 1 / count))];
  },
  // d Σx² = 2x
  ReduceSumSquare: (g, node, [grad]) => {
    const x = node.inputs[0];
    return [op.mul(g, op.mul(g, x, op.scalar(g, 2)), spread(g, node, grad!))];
  },

  // (softmax − ε/V − (1−ε)·onehot(target)) · w · g per row; no gradient to targets, weights or ε.
  SoftmaxCrossEntropy: (g, node, [grad]) => {
    const [logits, targets, weights, epsilon] = node.inputs;
    const classes = logits.shape[1] as number;
    const scale = op.mul(g, weights, grad!); // [N]
    const smooth = op.mul(g, epsilon, op.scalar(g, 1 / classes)); // ε/V
    const spread = op.mul(g, op.sub(g, op.softmax(g, logits), smooth), op.unsqueeze(g, scale, 1)); // [N, V]
    // −(1−ε)·w·g at each row's target: one scatter into the flat [N·V] view (a one-hot [N, V] costs more).
    const rows = g.node(
      'Range',
      [op.scalar(g, 0, 'int64'), op.size(g, targets), op.scalar(g, 1, 'int64')],
      {},
      [{ dtype: 'int64', shape: targets.shape }],
    )[0];
    const at = op.add(g, op.mul(g, rows, op.scalar(g, classes, 'int64')), op.cast(g, targets, 'int64'));
    const onTarget = op.neg(g, op.mul(g, op.sub(g, op.scalar(g, 1), epsilon), scale)); // [N]
    const flat = op.scatterRowsAdd(g, op.reshape(g, spread, [-1]), op.unsqueeze(g, at, 1), onTarget);
    return [op.reshapeAs(g, flat, logits)];
  },
};

/** A reduction's output gradient broadcast back over the reduced axes. */
function spread(g: Graph, node: Node, grad: Value): Value {
  const x = node.inputs[0];
  const axes =
    node.op === 'ReduceSumSquare' ? x.shape.map((_, i) => i) : constInts(node.inputs[1], `${node.op} axes`);
  let kept = grad;
  if (!node.attrs.keepdims) for (const a of [...axes].sort((p, q) => p - q)) kept = op.unsqueeze(g, kept, a);
  return op.expandAs(g, kept, x);
}
