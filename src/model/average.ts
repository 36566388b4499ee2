import { CaptionerError } from '../util/errors.js';
import { incompatibility, type LoadedModel } from './model-folder.js';

/**
 * The mean of several checkpoints' weights (e.g. the last epochs of one run): a model that sits in the
 * middle of the region the optimiser was wandering in, often better than any single point of it.
 * Only meaningful for checkpoints of one run; different seeds learn incompatible features (use an
 * ensemble for those).
 */
export function averageWeights(models: LoadedModel[]): Float32Array {
  if (models.length === 0) throw new CaptionerError('MODEL_INVALID', 'nothing to average');
  const [first] = models;
  for (const m of models) {
    if (m.members)
      throw new CaptionerError('MODEL_INVALID', `${m.dir} is an ensemble: average its members' runs instead`);
    if (JSON.stringify(m.config.model) !== JSON.stringify(first.config.model))
      throw new CaptionerError(
        'MODEL_INVALID',
        `${m.dir} has another architecture or size than ${first.dir}`,
      );
    const why = incompatibility(m, first);
    if (why) throw new CaptionerError('MODEL_INVALID', `${m.dir} has ${why} than ${first.dir}`);
  }
  const sum = new Float64Array(first.params.length);
  for (const m of models) for (let i = 0; i < sum.length; i++) sum[i] += m.params[i];
  // A loop, not Float32Array.from(sum, map): that walks the array through its iterator (slow on millions).
  const mean = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) mean[i] = sum[i] / models.length;
  return mean;
}
