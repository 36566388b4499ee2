import type { Architecture, ModelConfigBase, TrainBatch } from '../model/architecture.js';
import type { ParamLayout } from '../model/params.js';
import { heapView, tf } from '../model/tf-backend.js';

export interface BatchResult {
  /** Summed cross-entropy (nats) over the batch's target tokens. */
  lossSum: number;
  tokens: number;
}

/** Loss and gradient of the summed loss w.r.t. every weight, written into `grads` (same layout). */
export function computeGradients(
  arch: Architecture,
  config: ModelConfigBase,
  layout: ParamLayout,
  params: Float32Array,
  batch: TrainBatch,
  grads: Float32Array,
): BatchResult {
  const lossSum = tf.tidy(() => {
    const tensors = layout.specs.map((s) => tf.tensor(layout.view(params, s.name), s.shape));
    const f = (...ps: tf.Tensor[]) => {
      const named: Record<string, tf.Tensor> = {};
      layout.specs.forEach((s, i) => (named[s.name] = ps[i]));
      return arch.lossSum(config, named, batch, true);
    };
    const { value, grads: gs } = tf.valueAndGrads(f)(tensors);
    // Straight from the wasm heap into `grads` (shared memory in a worker): no multi-MB temporaries.
    gs.forEach((g, i) => grads.set(heapView(g), layout.offsets[i]));
    return value.dataSync()[0];
  });
  return { lossSum, tokens: batch.targets.length };
}

/** Loss only, dropout off (dev loss). */
export function computeLoss(
  arch: Architecture,
  config: ModelConfigBase,
  layout: ParamLayout,
  params: Float32Array,
  batch: TrainBatch,
): BatchResult {
  const lossSum = tf.tidy(() => {
    const named: Record<string, tf.Tensor> = {};
    for (const s of layout.specs) named[s.name] = tf.tensor(layout.view(params, s.name), s.shape);
    return arch.lossSum(config, named, batch, false).dataSync()[0];
  });
  return { lossSum, tokens: batch.targets.length };
}
