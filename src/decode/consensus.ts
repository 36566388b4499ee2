import type { Vocabulary } from '../data/vocabulary.js';
import { sentenceBleuOfMatches } from '../eval/bleu.js';
import { CiderD } from '../eval/cider.js';
import { cocoTokenize } from '../eval/ptb-tokenizer.js';
import { CaptionerError } from '../util/errors.js';
import type { StepDecoder } from '../model/step-decoder.js';
import { beamSearch } from './beam-search.js';
import { resolveDecodeOptions, type DecodeOptions, type DecodedCaption } from './options.js';
import {
  parseIndex,
  quantiseRows,
  serializeIndex,
  type IndexContents,
  type VectorBits,
} from './consensus-format.js';
import { Int8Dots } from './similarity-kernel.js';

/**
 * Consensus reranking (Devlin et al. 2015, "Exploring nearest neighbor approaches for image captioning";
 * Mao et al. 2015's consensus re-ranking): the beam's finished captions are re-ordered by how well they
 * agree with what people wrote about the most similar training photos. A photo's k nearest training
 * photos (cosine of the encoder's pooled vectors) lend their reference captions; each candidate gets its
 * mean CIDEr-D against them (document frequencies over all the training references), and the captions are
 * ranked by `score + weight · consensus` (+ `bleuWeight` · their mean sentence BLEU-4 against the same
 * photos' captions, where the index sets it). A caption the model likes but that no similar photo's
 * description supports ("a man in a red shirt ..." for a dog) falls behind one that people would write.
 *
 * The index is one file (`consensus.bin`) in the model folder and in the exported bundle: the same bytes
 * and this same code in Node and in the browser, so both write the same captions.
 */

/** The file in a model folder (and an exported bundle) that holds the index. */
export const CONSENSUS_FILE = 'consensus.bin';

export interface ConsensusSettings {
  /** How many nearest training photos lend their captions. */
  k: number;
  /** The weight of the consensus (CIDEr-D on coco's 0..10 scale) against the length-normalised log-probability. */
  weight: number;
  /**
   * The weight of the agreement in BLEU-4 (0..1: each neighbour's sentence BLEU-4, add-one smoothed,
   * averaged), added to the CIDEr-D term; 0 or absent: none.
   */
  bleuWeight?: number;
}

/** A caption the reranker can reorder: its text and its length-normalised log-probability. */
export interface RankedCandidate {
  text: string;
  score: number;
}

export class ConsensusIndex {
  private cider?: CiderD;
  private dots?: Int8Dots;

  private constructor(private readonly contents: IndexContents) {}

  get settings(): ConsensusSettings {
    const { k, weight, bleuWeight } = this.contents.header;
    return { k, weight, ...(bleuWeight ? { bleuWeight } : {}) };
  }
  get encoder(): { name: string; sha256: string } {
    return this.contents.header.encoder;
  }
  get count(): number {
    return this.contents.header.count;
  }
  get dim(): number {
    return this.contents.header.dim;
  }
  /** Bits per stored vector value (4 or 8). */
  get bits(): VectorBits {
    return this.contents.bits;
  }

  /**
   * An index of training photos: their pooled vectors and reference captions. `bits` 4 (the default)
   * stores the vectors in half the bytes of int8, at no measured cost on Flickr8k dev (see the model card).
   */
  static build(options: {
    vectors: readonly Float32Array[];
    references: readonly (readonly string[])[];
    encoder: { name: string; sha256: string };
    settings: ConsensusSettings;
    bits?: VectorBits;
    source?: string;
  }): ConsensusIndex {
    const { vectors, references } = options;
    if (vectors.length === 0) throw new CaptionerError('DATA_MISSING', 'no training photos to index');
    if (vectors.length !== references.length)
      throw new RangeError(`${vectors.length} vectors for ${references.length} photos' references`);
    checkSettings(options.settings);
    const dim = vectors[0].length;
    vectors.forEach((v, r) => {
      if (v.length !== dim) throw new RangeError(`vector ${r} has ${v.length} values, not ${dim}`);
    });
    const bits = options.bits ?? 4;
    return new ConsensusIndex({
      header: {
        ...options.settings,
        encoder: options.encoder,
        count: vectors.length,
        dim,
        ...(options.source !== undefined ? { source: options.source } : {}),
      },
      bits,
      ...quantiseRows(vectors.map(normalise), dim, bits),
      references: references.map((refs) => refs.map(cocoTokenize)),
    });
  }

  /** The same index with other settings (k, weight, bleuWeight), e.g. to tune them on dev. */
  withSettings(settings: Partial<ConsensusSettings>): ConsensusIndex {
    const { header } = this.contents;
    const next = {
      k: settings.k ?? header.k,
      weight: settings.weight ?? header.weight,
      bleuWeight: settings.bleuWeight ?? header.bleuWeight ?? 0,
    };
    checkSettings(next);
    const index = new ConsensusIndex({ ...this.contents, header: { ...header, ...next } });
    index.cider = this.cider;
    index.dots = this.dots;
    return index;
  }

  /** The file's bytes (format: consensus-format.ts, and the bundle's README). */
  serialize(): Uint8Array {
    return serializeIndex(this.contents);
  }

  /** Reads a `consensus.bin`; `where` names it in errors. */
  static parse(bytes: Uint8Array, where = CONSENSUS_FILE): ConsensusIndex {
    const contents = parseIndex(bytes, where);
    checkSettings(contents.header);
    return new ConsensusIndex(contents);
  }

  /**
   * Builds what the first rerank would (CIDEr-D's document frequencies over every indexed caption,
   * ~0.65 s for Flickr8k's 30,000 on the 2-core machine): call it when loading, so that no photo waits.
   */
  prepare(): void {
    this.cider ??= new CiderD(this.contents.references);
  }

  /** The k training photos most similar to a pooled vector (cosine), most similar first. */
  nearest(pooled: ArrayLike<number>, k = this.contents.header.k): number[] {
    const { count, dim } = this.contents.header;
    if (pooled.length !== dim)
      throw new CaptionerError(
        'MODEL_INVALID',
        `the consensus index holds ${dim}-d vectors, the photo's has ${pooled.length}`,
      );
    // The query as int8 too: the kernel's integer sums rank the rows the same in Node and the browser.
    const query = quantiseRows([normalise(pooled)], dim, 8).vectors;
    this.dots ??= new Int8Dots(this.contents.vectors, count, dim);
    const sums = this.dots.dots(query);
    const top: { row: number; sim: number }[] = [];
    for (let r = 0; r < count; r++) {
      const sim = sums[r] * this.contents.scales[r];
      let i: number;
      if (top.length < k) {
        top.push({ row: r, sim });
        i = top.length - 1;
      } else if (sim > top[k - 1].sim) i = k - 1;
      else continue;
      // Insertion into a short sorted list: k is small.
      while (i > 0 && top[i - 1].sim < sim) {
        top[i] = top[i - 1];
        i--;
      }
      top[i] = { row: r, sim };
    }
    return top.map((t) => t.row);
  }

  /**
   * The candidates reordered by score + weight · consensus, each with its consensus (mean CIDEr-D,
   * 0..10, against the references of the photo's k nearest training photos).
   */
  rerank<T extends RankedCandidate>(
    pooled: ArrayLike<number>,
    candidates: readonly T[],
  ): (T & { consensus: number })[] {
    if (candidates.length === 0) return [];
    const rows = this.nearest(pooled);
    this.prepare();
    const cider = this.cider!;
    const { weight, bleuWeight = 0 } = this.contents.header;
    // Each candidate's n-grams numbered once for all the neighbours, for CIDEr-D and for BLEU-4 (clipped
    // by the most any one of a neighbour's captions holds an n-gram).
    const tokenized = candidates.map((c) => cocoTokenize(c.text));
    const vectors = tokenized.map((tokens) => cider.vector(tokens));
    const sums = candidates.map(() => 0);
    const bleus = candidates.map(() => 0);
    for (const row of rows) {
      cider.scoreMany(row, vectors).forEach((score, i) => (sums[i] += score));
      if (bleuWeight > 0) {
        const lengths = this.contents.references[row].map((r) => r.length);
        cider
          .clippedMatches(row, vectors)
          .forEach(
            (correct, i) => (bleus[i] += sentenceBleuOfMatches(correct, tokenized[i].length, lengths)),
          );
      }
    }
    const scored = candidates.map((c, i) => {
      const sum = sums[i];
      const bleu = bleuWeight > 0 ? bleus[i] / rows.length : 0;
      const agreement = weight * (sum / rows.length) + bleuWeight * bleu;
      return { c: { ...c, consensus: sum / rows.length }, agreement };
    });
    // Stable: equal totals keep the beam's order.
    return scored
      .map(({ c, agreement }, i) => ({ c, i, total: c.score + agreement }))
      .sort((a, b) => b.total - a.total || a.i - b.i)
      .map(({ c }) => c);
  }
}

/**
 * How many captions the reranker chooses from per photo: the best by score of every caption the beam
 * search could have ended (`keepFinished`), not only its k finished ones. On Flickr8k dev (beam 3) the
 * attention model's BLEU-4 / CIDEr-D went 21.5 / 52.5 → 22.4 / 53.3, the merge ensemble's 19.9 / 51.2 →
 * 20.8 / 52.3; 20 instead of 10 changed nothing.
 */
export const RERANK_POOL = 10;

/**
 * Beam search, then, with an index, each image's captions reranked by consensus: the search keeps the
 * `RERANK_POOL` best captions it could have ended, they are reordered, and the `results` best are kept
 * (what the server, the evaluation and the browser all do). `pooled[i]` is image i's pooled vector.
 */
export async function beamSearchReranked(
  decoder: StepDecoder,
  images: Float32Array[],
  vocabulary: Pick<Vocabulary, 'decode' | 'tokens'>,
  options: DecodeOptions,
  consensus?: { index: ConsensusIndex; pooled: readonly ArrayLike<number>[] },
): Promise<(DecodedCaption & { consensus?: number })[][]> {
  if (!consensus) return beamSearch(decoder, images, vocabulary, options);
  const { results } = resolveDecodeOptions(options);
  const keep = Math.max(RERANK_POOL, options.beam ?? 0);
  const found = await beamSearch(decoder, images, vocabulary, {
    ...options,
    keepFinished: keep,
    results: keep,
  });
  return found.map((list, i) => consensus.index.rerank(consensus.pooled[i], list).slice(0, results));
}

function checkSettings({ k, weight, bleuWeight = 0 }: ConsensusSettings): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`consensus k must be a whole number ≥ 1, got ${k}`);
  if (!Number.isFinite(weight) || weight < 0)
    throw new RangeError(`consensus weight must be ≥ 0, got ${weight}`);
  if (!Number.isFinite(bleuWeight) || bleuWeight < 0)
    throw new RangeError(`consensus BLEU weight must be ≥ 0, got ${bleuWeight}`);
}

function normalise(v: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s) || 1;
  return Float32Array.from(v as ArrayLike<number>, (x) => x / n);
}
