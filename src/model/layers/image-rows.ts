import type { Dim, Graph, Value } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';

/**
 * A decoder's constant states (an attention model's regions, a merge model's image vector) hold one
 * row per image, its other states one row per hypothesis: k hypotheses of each image, in image order
 * (the beams of a beam search). Training has one hypothesis per image, so there k = 1 and these are
 * an Unsqueeze and a Squeeze; in a decoding graph the two counts are symbols ('images', 'rows') and k
 * is found at run time. Keeping constants per image means a beam search neither copies them for
 * every beam nor reads them once per beam: attention's context is one batched product per image.
 */

/** x [rows, …] → [images, k, …], grouping each image's k rows; `perImage` is [images, …]. */
export function byImage(g: Graph, x: Value, perImage: Value): Value {
  const [rows, ...rest] = x.shape;
  const images = perImage.shape[0];
  if (rows === images) return op.unsqueeze(g, x, 1);
  // The target shape [images, -1, …rest], its first entry read from `perImage` at run time.
  const spec = op.concat(
    g,
    [op.slice(g, op.shapeOf(g, perImage), 0, 0, 1), op.ints(g, [-1, ...(rest as number[])])],
    0,
  );
  return g.node('Reshape', [x, spec], {}, [
    { dtype: x.dtype, shape: [images, `${rows}/${images}`, ...rest] },
  ])[0];
}

/** The inverse of `byImage`: [images, k, …] → [rows, …], where `rows` names the result's first dimension. */
export function byRow(g: Graph, x: Value, rows: Dim): Value {
  const [, k, ...rest] = x.shape;
  if (k === 1) return op.squeeze(g, x, 1);
  if (rest.some((d) => typeof d !== 'number'))
    throw new Error('byRow: the trailing dimensions must be static');
  return g.node('Reshape', [x, op.ints(g, [-1, ...(rest as number[])])], {}, [
    { dtype: x.dtype, shape: [rows, ...rest] },
  ])[0];
}

/** A per-image value [images, …] repeated for each of its k rows: [rows, …] shaped like `rows`' first dimension. */
export function perRow(g: Graph, perImage: Value, like: Value): Value {
  if (perImage.shape[0] === like.shape[0]) return perImage;
  return byRow(g, op.expandAs(g, op.unsqueeze(g, perImage, 1), byImage(g, like, perImage)), like.shape[0]);
}
