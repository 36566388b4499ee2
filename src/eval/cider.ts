const N = 4;
const SIGMA = 6;

/**
 * A caption's tf-idf weights (see `CiderD.vector`): its n-grams in coco's precook order, each as its
 * number in the reference set's dictionary (negative: in no reference) and its n-gram order (0..3).
 */
export interface TfIdf {
  ids: Int32Array;
  orders: Uint8Array;
  weights: Float64Array;
  /** Each n-gram's count in the caption. */
  counts: Int32Array;
  norm: number[];
  /** coco's quirk: the "length" compared by the penalty is the number of bigrams (words - 1, or 0). */
  length: number;
}

/** A caption's n-gram counts as dictionary numbers, in precook order (see `CiderD.count`). */
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
 * Every n-gram of the references is numbered once, here, without ever being made a string (a word's
 * number, then a prefix's number extended by a word: Flickr8k's 30,000 training captions in ~0.65 s
 * against ~1.1 with n-gram strings); a reference's weights are then spread over a scratch array by
 * number, and each candidate's n-grams read it, with no hashing per pair (the reranker's 10 candidates
 * × 75 references a photo were most of its time). The sums are the same, in the same order, as coco's
 * dictionaries give.
 */
export class CiderD {
  /** By n-gram number: how many images' references hold it. */
  private readonly documentFrequency: number[] = [];
  /** By n-gram number: the last image whose references were counted holding it (for the above). */
  private readonly lastImage: number[] = [];
  /** A word's number as a 1-gram. */
  private readonly unigrams = new Map<string, number>();
  /** An n-gram's number by its (n-1)-gram prefix's number and its last word's. */
  private readonly extensions = new PairTable();
  /** By n-gram number: the caption being counted when it was last met, and its slot in that caption. */
  private readonly metIn: number[] = [];
  private readonly slotIn: number[] = [];
  private captions = 0;
  private readonly references: CountedReference[][];
  private readonly logImages: number;
  private readonly refVectors = new Map<number, TfIdf[]>();
  /** One reference's weights by n-gram number while candidates are compared with it; zeros between. */
  private readonly scratch: Float64Array;
  /** An image's most of each n-gram in one reference, by number, while `clippedMatches` runs; zeros between. */
  private readonly most: Int32Array;

  /** `references[i]`: image i's reference captions, tokenized. */
  constructor(references: readonly (readonly (readonly string[])[])[]) {
    const df = this.documentFrequency;
    this.references = references.map((refs, image) =>
      refs.map((r) => {
        const counted = this.count(r, true);
        for (const id of counted.ids)
          if (this.lastImage[id] !== image) {
            this.lastImage[id] = image;
            df[id]++;
          }
        return counted;
      }),
    );
    this.logImages = Math.log(references.length);
    this.scratch = new Float64Array(df.length);
    this.most = new Int32Array(df.length);
  }

  /** The score (coco's scale, 0..10) of a candidate caption of image `image` against its references. */
  score(image: number, candidate: readonly string[]): number {
    return this.scoreMany(image, [this.vector(candidate)])[0];
  }

  /** A candidate's tf-idf weights, to score it against several images' references (`scoreMany`). */
  vector(candidate: readonly string[]): TfIdf {
    const { ids, orders, counts } = this.count(candidate, false);
    return this.weigh(ids, orders, counts);
  }

  /**
   * A caption's n-grams (n = 1..4) in coco's precook order (each order left to right, first occurrence
   * first), each as its number and its count. Numbers are chained, a word's and then its prefix's
   * extended by a word, so no n-gram is ever made a string. `create`: number the n-grams not seen
   * before (the references); else each n-gram no reference holds gets a negative number of its own.
   */
  private count(tokens: readonly string[], create: boolean): CountedReference {
    let most = 0;
    for (let n = 1; n <= N; n++) most += Math.max(0, tokens.length - n + 1);
    const ids = new Int32Array(most);
    const orders = new Uint8Array(most);
    const counts = new Int32Array(most);
    const caption = this.captions++;
    const prefix = new Int32Array(tokens.length); // the (n-1)-gram at i, -1 where no reference has it
    let unseen: Map<string, number> | undefined;
    let unseenSlot: Map<number, number> | undefined;
    let g = 0;
    for (let n = 1; n <= N; n++)
      for (let i = 0; i + n <= tokens.length; i++) {
        let id =
          n === 1 ? this.unigram(tokens[i], create) : this.extend(prefix[i], tokens[i + n - 1], create);
        prefix[i] = id;
        let at: number | undefined;
        if (id >= 0) {
          if (this.metIn[id] === caption) at = this.slotIn[id];
          else {
            this.metIn[id] = caption;
            this.slotIn[id] = g;
          }
        } else {
          // No reference holds it: told apart from the others by its text (a candidate's, seldom).
          unseen ??= new Map();
          unseenSlot ??= new Map();
          const key = tokens.slice(i, i + n).join(' ');
          id = unseen.get(key) ?? -(unseen.size + 1);
          unseen.set(key, id);
          at = unseenSlot.get(id);
          if (at === undefined) unseenSlot.set(id, g);
        }
        if (at !== undefined) counts[at]++;
        else {
          ids[g] = id;
          orders[g] = n - 1;
          counts[g++] = 1;
        }
      }
    return { ids: ids.slice(0, g), orders: orders.slice(0, g), counts: counts.slice(0, g) };
  }

  private unigram(word: string, create: boolean): number {
    let id = this.unigrams.get(word);
    if (id === undefined) {
      if (!create) return -1;
      this.unigrams.set(word, (id = this.newGram()));
    }
    return id;
  }

  private extend(prefix: number, word: string, create: boolean): number {
    const w = prefix < 0 ? -1 : this.unigram(word, create);
    if (w < 0) return -1;
    let id = this.extensions.get(prefix, w);
    if (id < 0) {
      if (!create) return -1;
      this.extensions.set(prefix, w, (id = this.newGram()));
    }
    return id;
  }

  private newGram(): number {
    this.lastImage.push(-1);
    this.metIn.push(-1);
    this.slotIn.push(0);
    return this.documentFrequency.push(0) - 1;
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

  /**
   * BLEU's clipped matches of several candidates (their `vector`s) against image `image`'s references,
   * by the same n-gram numbers: per candidate and order n (0..3), Σ over its (n+1)-grams of min(its
   * count, the most any one reference holds) — what `sentenceBleuOfMatches` takes (the reranker weighs
   * BLEU-4 beside CIDEr-D; the same counts as the n-gram strings of maxReferenceCounts give).
   */
  clippedMatches(image: number, hyps: readonly TfIdf[]): Int32Array[] {
    const most = this.most;
    const refs = this.references[image];
    for (const { ids, counts } of refs)
      for (let g = 0; g < ids.length; g++) if (counts[g] > most[ids[g]]) most[ids[g]] = counts[g];
    const matches = hyps.map(({ ids, orders, counts }) => {
      const correct = new Int32Array(N);
      for (let g = 0; g < ids.length; g++)
        if (ids[g] >= 0) correct[orders[g]] += Math.min(most[ids[g]], counts[g]);
      return correct;
    });
    for (const { ids } of refs) for (let g = 0; g < ids.length; g++) most[ids[g]] = 0;
    return matches;
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
    return { ids, orders, weights, counts: tf, norm: squares.map(Math.sqrt), length };
  }
}

/**
 * A hash table from a pair of non-negative int32s to a non-negative int32 (open addressing, linear
 * probing, in typed arrays): the n-gram numbering's hot path, which a Map keyed by prefix · 2^k + word
 * slowed with a boxed double per key.
 */
class PairTable {
  private firsts = new Int32Array(1 << 16).fill(-1);
  private seconds = new Int32Array(1 << 16);
  private values = new Int32Array(1 << 16);
  private size = 0;

  /** The value of (a, b), or -1. */
  get(a: number, b: number): number {
    const mask = this.firsts.length - 1;
    for (let i = hashPair(a, b) & mask; ; i = (i + 1) & mask) {
      if (this.firsts[i] === -1) return -1;
      if (this.firsts[i] === a && this.seconds[i] === b) return this.values[i];
    }
  }

  /** Sets (a, b) → value; (a, b) must not be in the table. */
  set(a: number, b: number, value: number): void {
    if (2 * (this.size + 1) > this.firsts.length) this.grow();
    const mask = this.firsts.length - 1;
    let i = hashPair(a, b) & mask;
    while (this.firsts[i] !== -1) i = (i + 1) & mask;
    this.firsts[i] = a;
    this.seconds[i] = b;
    this.values[i] = value;
    this.size++;
  }

  private grow(): void {
    const [firsts, seconds, values] = [this.firsts, this.seconds, this.values];
    this.firsts = new Int32Array(firsts.length * 2).fill(-1);
    this.seconds = new Int32Array(firsts.length * 2);
    this.values = new Int32Array(firsts.length * 2);
    this.size = 0;
    for (let i = 0; i < firsts.length; i++) if (firsts[i] !== -1) this.set(firsts[i], seconds[i], values[i]);
  }
}

function hashPair(a: number, b: number): number {
  const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77);
  return (h ^ (h >>> 16)) >>> 0;
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
