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
 * CIDEr-D as coco-caption's cider_scorer computes it: n = 1..4, document frequency over a set of
 * images' references (an n-gram counts once per image), IDF log(images) - log(max(1, df)), cosine with
 * clipped hypothesis weights, Gaussian length penalty σ = 6, ×10, averaged over the references of an
 * image. Built once for a reference set and reused: self-critical training scores every sampled
 * caption against its training image's references with the training set's frequencies.
 */
export class CiderD {
  private readonly refCounts: Map<string, number>[][];
  private readonly documentFrequency = new Map<string, number>();
  private readonly logImages: number;
  private readonly refVectors = new Map<number, TfIdf[]>();

  /** `references[i]`: image i's reference captions, tokenized. */
  constructor(references: readonly (readonly (readonly string[])[])[]) {
    this.refCounts = references.map((refs) => refs.map((r) => ngramCounts(r, N)));
    for (const refs of this.refCounts) {
      const seen = new Set<string>();
      for (const counts of refs) for (const gram of counts.keys()) seen.add(gram);
      for (const gram of seen) this.documentFrequency.set(gram, (this.documentFrequency.get(gram) ?? 0) + 1);
    }
    this.logImages = Math.log(references.length);
  }

  /** The score (coco's scale, 0..10) of a candidate caption of image `image` against its references. */
  score(image: number, candidate: readonly string[]): number {
    let refs = this.refVectors.get(image);
    if (!refs) this.refVectors.set(image, (refs = this.refCounts[image].map((c) => this.toVector(c))));
    const hyp = this.toVector(ngramCounts(candidate, N));
    const sum = new Array<number>(N).fill(0);
    for (const ref of refs) {
      const val = similarity(hyp, ref);
      for (let n = 0; n < N; n++) sum[n] += val[n];
    }
    let score = sum.reduce((a, b) => a + b, 0) / N;
    score /= refs.length;
    return score * 10;
  }

  private toVector(counts: Map<string, number>): TfIdf {
    const vec = Array.from({ length: N }, () => new Map<string, number>());
    const squares = new Array<number>(N).fill(0);
    let length = 0;
    for (const [gram, tf] of counts) {
      const n = ngramOrder(gram) - 1;
      const weight = tf * (this.logImages - Math.log(Math.max(1, this.documentFrequency.get(gram) ?? 0)));
      vec[n].set(gram, weight);
      squares[n] += weight ** 2;
      if (n === 1) length += tf;
    }
    return { vec, norm: squares.map(Math.sqrt), length };
  }
}

function similarity(hyp: TfIdf, ref: TfIdf): number[] {
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
}

/**
 * Corpus CIDEr-D as coco-caption reports it: document frequencies over the evaluated images'
 * references, the per-image scores averaged over images.
 */
export function corpusCiderD(
  candidates: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
): CiderResult {
  const cider = new CiderD(references);
  const perImage = candidates.map((candidate, i) => cider.score(i, candidate));
  return { score: mean(perImage), perImage };
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
