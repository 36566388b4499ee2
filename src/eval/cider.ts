import { ngramCounts, ngramOrder } from './ngrams.js';

const N = 4;
const SIGMA = 6;

/**
 * A caption's tf-idf weights (see `CiderD.vector`): its n-grams in coco's precook order, each as its
 * number in the reference set's dictionary (-1: in no reference) and its n-gram order (0..3).
 */
export interface TfIdf {
  ids: Int32Array;
  orders: Uint8Array;
  weights: Float64Array;
  norm: number[];
  /** coco's quirk: the "length" compared by the penalty is the number of bigrams (words - 1, or 0). */
  length: number;
}

/** A reference's n-gram counts as dictionary numbers, in precook order. */
interface CountedReference {
  ids: Int32Array;
  orders: Uint8Array;
  counts: Int32Array;
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
 * caption against its training image's references with the training set's frequencies, the consensus
 * reranker a photo's candidates against its neighbours' references.
 *
 * Every n-gram of the references is numbered once, here: a reference's weights are then spread over a
 * scratch array by number, and each candidate's n-grams read it, with no string hashing per pair (the
 * reranker's 10 candidates × 75 references a photo were most of its time). The sums are the same, in
 * the same order, as coco's dictionaries give.
 */
export class CiderD {
  /** Every n-gram in the references, numbered. */
  private readonly ids = new Map<string, number>();
  /** By n-gram number: how many images' references hold it. */
  private readonly documentFrequency: number[] = [];
  private readonly references: CountedReference[][];
  private readonly logImages: number;
  private readonly refVectors = new Map<number, TfIdf[]>();
  /** One reference's weights by n-gram number while candidates are compared with it; zeros between. */
  private readonly scratch: Float64Array;

  /** `references[i]`: image i's reference captions, tokenized. */
  constructor(references: readonly (readonly (readonly string[])[])[]) {
    const df = this.documentFrequency;
    this.references = references.map((refs) => {
      const seen = new Set<number>();
      const counted = refs.map((r) => {
        const counts = ngramCounts(r, N);
        const out: CountedReference = {
          ids: new Int32Array(counts.size),
          orders: new Uint8Array(counts.size),
          counts: new Int32Array(counts.size),
        };
        let g = 0;
        for (const [gram, count] of counts) {
          let id = this.ids.get(gram);
          if (id === undefined) {
            id = df.length;
            this.ids.set(gram, id);
            df.push(0);
          }
          seen.add(id);
          out.ids[g] = id;
          out.orders[g] = ngramOrder(gram) - 1;
          out.counts[g++] = count;
        }
        return out;
      });
      for (const id of seen) df[id]++;
      return counted;
    });
    this.logImages = Math.log(references.length);
    this.scratch = new Float64Array(df.length);
  }

  /** The score (coco's scale, 0..10) of a candidate caption of image `image` against its references. */
  score(image: number, candidate: readonly string[]): number {
    return this.scoreMany(image, [this.vector(candidate)])[0];
  }

  /** A candidate's tf-idf weights, to score it against several images' references (`scoreMany`). */
  vector(candidate: readonly string[]): TfIdf {
    return this.vectorOfCounts(ngramCounts(candidate, N));
  }

  /** `vector` from the candidate's n-gram counts (ngramCounts, n = 1..4), where the caller has them. */
  vectorOfCounts(counts: ReadonlyMap<string, number>): TfIdf {
    const ids = new Int32Array(counts.size);
    const orders = new Uint8Array(counts.size);
    const tf = new Int32Array(counts.size);
    let g = 0;
    for (const [gram, count] of counts) {
      ids[g] = this.ids.get(gram) ?? -1;
      orders[g] = ngramOrder(gram) - 1;
      tf[g++] = count;
    }
    return this.weigh(ids, orders, tf);
  }

  /** The scores of several candidates of image `image` (their `vector`s), each as `score` gives it. */
  scoreMany(image: number, hyps: readonly TfIdf[]): number[] {
    let refs = this.refVectors.get(image);
    if (!refs)
      this.refVectors.set(
        image,
        (refs = this.references[image].map(({ ids, orders, counts }) => this.weigh(ids, orders, counts))),
      );
    const sums = hyps.map(() => new Array<number>(N).fill(0));
    const scratch = this.scratch;
    for (const ref of refs) {
      for (let g = 0; g < ref.ids.length; g++) scratch[ref.ids[g]] = ref.weights[g];
      hyps.forEach((hyp, h) => {
        const val = similarity(hyp, ref, scratch);
        for (let n = 0; n < N; n++) sums[h][n] += val[n];
      });
      for (let g = 0; g < ref.ids.length; g++) scratch[ref.ids[g]] = 0;
    }
    return sums.map((sum) => {
      let score = sum.reduce((a, b) => a + b, 0) / N;
      score /= refs.length;
      return score * 10;
    });
  }

  private weigh(ids: Int32Array, orders: Uint8Array, tf: Int32Array): TfIdf {
    const weights = new Float64Array(ids.length);
    const squares = new Array<number>(N).fill(0);
    let length = 0;
    for (let g = 0; g < ids.length; g++) {
      const n = orders[g];
      const df = ids[g] >= 0 ? this.documentFrequency[ids[g]] : 0;
      const weight = tf[g] * (this.logImages - Math.log(Math.max(1, df)));
      weights[g] = weight;
      squares[n] += weight ** 2;
      if (n === 1) length += tf[g];
    }
    return { ids, orders, weights, norm: squares.map(Math.sqrt), length };
  }
}

/** coco's sim(): the hypothesis against one reference, whose weights are in `scratch` by n-gram number. */
function similarity(hyp: TfIdf, ref: TfIdf, scratch: Float64Array): number[] {
  const delta = hyp.length - ref.length;
  const penalty = Math.pow(Math.E, -(delta ** 2) / (2 * SIGMA ** 2));
  const val = new Array<number>(N).fill(0);
  // Within each order in precook order, as coco iterates its dictionaries.
  for (let g = 0; g < hyp.ids.length; g++) {
    const id = hyp.ids[g];
    const refWeight = id >= 0 ? scratch[id] : 0;
    val[hyp.orders[g]] += Math.min(hyp.weights[g], refWeight) * refWeight;
  }
  for (let n = 0; n < N; n++) {
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
