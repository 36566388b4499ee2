import { PAD } from '../data/vocabulary.js';
import { Rng } from '../util/random.js';
import type { DropoutSite } from './train-graph.js';

/**
 * The inverted-dropout masks (0 or 1/(1−rate)) of a batch laid out for a training graph of `rows`
 * rows and `steps` steps: per row, from the row's own seed, each site in the model's order; a 'row'
 * site draws one mask, a 'time' site one per real input step (padding steps stay zero: they reach no
 * loss). So a row's masks never depend on the batch around it.
 */
export function drawMasks(
  sites: readonly DropoutSite[],
  inputs: Int32Array, // time-major, steps × rows
  rowSeeds: Uint32Array,
  rows: number,
  steps: number,
): Float32Array[] {
  const masks = sites.map((s) => new Float32Array((s.per === 'row' ? rows : rows * steps) * s.width));
  for (let r = 0; r < rowSeeds.length; r++) {
    const rng = new Rng(rowSeeds[r]);
    sites.forEach((s, k) => {
      const keep = 1 - s.rate;
      if (s.per === 'row') rng.mask(masks[k], r * s.width, s.width, keep, 1 / keep);
      else
        for (let t = 0; t < steps && inputs[t * rows + r] !== PAD; t++)
          rng.mask(masks[k], (t * rows + r) * s.width, s.width, keep, 1 / keep);
    });
  }
  return masks;
}
