import { ngramCounts, ngramOrder } from './ngrams.js';

const N = 4;
const SIGMA = 6;

interface TfIdf {
  /** Per n-gram order, the tf-idf weight of each n-gram. */
  vec: Map<string, number>[];
  norm: number[];
  /** coco's quirk: the "length" compared by the penalty is the number of bigrams (words - 1, or 0). */
  length: number;
}

export interface CiderResult {
  /** Mean over images of the per-image score; coco's scale (0..10, ×10 built in). */
  score: number;
  perImage: number[];
}

/**
 * CIDEr-D as coco-caption's cider_scorer computes it: n = 1..4, document frequency over the references
 * of the evaluated images (an n-gram counts once per image), IDF log(images) - log(max(1, df)),
 * cosine with clipped hypothesis weights, Gaussian length penalty σ = 6, ×10, averaged over the
 * references of an image, then over images.
 */
export function corpusCiderD(
  candidates: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
): CiderResult {
  const refCounts = references.map((refs) => refs.map((r) => ngramCounts(r, N)));
  const documentFrequency = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const counts of refs) for (const gram of counts.keys()) seen.add(gram);
    for (const gram of seen) documentFrequency.set(gram, (documentFrequency.get(gram) ?? 0) + 1);
  }
  const logImages = Math.log(references.length);

  const toVector = (counts: Map<string, number>): TfIdf => {
    const vec = Array.from({ length: N }, () => new Map<string, number>());
    const squares = new Array<number>(N).fill(0);
    let length = 0;
    for (const [gram, tf] of counts) {
      const n = ngramOrder(gram) - 1;
      const weight = tf * (logImages - Math.log(Math.max(1, documentFrequency.get(gram) ?? 0)));
      vec[n].set(gram, weight);
      squares[n] += weight ** 2;
      if (n === 1) length += tf;
    }
    return { vec, norm: squares.map(Math.sqrt), length };
  };

  const similarity = (hyp: TfIdf, ref: TfIdf): number[] => {
    const delta = hyp.length - ref.length;
    const penalty = Math.pow(Math.E, -(delta ** 2) / (2 * SIGMA ** 2));
    const val = new Array<number>(N).fill(0);
    for (let n = 0; n < N; n++) {
      for (const [gram, weight] of hyp.vec[n]) {
        const refWeight = ref.vec[n].get(gram) ?? 0;
        val[n] += Math.min(weight, refWeight) * refWeight;
      }
      if (hyp.norm[n] !== 0 && ref.norm[n] !== 0) val[n] /= hyp.norm[n] * ref.norm[n];
      val[n] *= penalty;
    }
    return val;
  };

  const perImage = candidates.map((candidate, i) => {
    const hyp = toVector(ngramCounts(candidate, N));
    const sum = new Array<number>(N).fill(0);
    for (const counts of refCounts[i]) {
      const val = similarity(hyp, toVector(counts));
      for (let n = 0; n < N; n++) sum[n] += val[n];
    }
    let score = sum.reduce((a, b) => a + b, 0) / N;
    score /= refCounts[i].length;
    return score * 10;
  });
  return { score: mean(perImage), perImage };
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
