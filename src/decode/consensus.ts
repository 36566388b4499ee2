import type { Vocabulary } from '../data/vocabulary.js';
import { CiderD } from '../eval/cider.js';
import { cocoTokenize } from '../eval/ptb-tokenizer.js';
import { CaptionerError } from '../util/errors.js';
import type { StepDecoder } from '../model/step-decoder.js';
import { beamSearch } from './beam-search.js';
import { resolveDecodeOptions, type DecodeOptions, type DecodedCaption } from './options.js';
import { Int8Dots } from './similarity-kernel.js';

/**
 * Consensus reranking (Devlin et al. 2015, "Exploring nearest neighbor approaches for image captioning";
 * Mao et al. 2015's consensus re-ranking): the beam's finished captions are re-ordered by how well they
 * agree with what people wrote about the most similar training photos. A photo's k nearest training
 * photos (cosine of the encoder's pooled vectors) lend their reference captions; each candidate gets its
 * mean CIDEr-D against them (document frequencies over all the training references), and the captions are
 * ranked by `score + weight · consensus`. A caption the model likes but that no similar photo's
 * description supports ("a man in a red shirt ..." for a dog) falls behind one that people would write.
 *
 * The index is one file (`consensus.bin`) in the model folder and in the exported bundle: the same bytes
 * and this same code in Node and in the browser, so both write the same captions.
 */

/** The file in a model folder (and an exported bundle) that holds the index. */
export const CONSENSUS_FILE = 'consensus.bin';

const MAGIC = 'CAPCONS1';
const VERSION = 1;

export interface ConsensusSettings {
  /** How many nearest training photos lend their captions. */
  k: number;
  /** The weight of the consensus (CIDEr-D on coco's 0..10 scale) against the length-normalised log-probability. */
  weight: number;
}

interface Header extends ConsensusSettings {
  version: number;
  /** The encoder whose pooled vectors these are: a query from another means nothing. */
  encoder: { name: string; sha256: string };
  count: number;
  dim: number;
  /** Each training photo's reference captions, as the corpus keeps them (cleaned). */
  references: string[][];
  /** Where it was built from, for people reading it. */
  source?: string;
}

/** A caption the reranker can reorder: its text and its length-normalised log-probability. */
export interface RankedCandidate {
  text: string;
  score: number;
}

export class ConsensusIndex {
  private cider?: CiderD;
  private dots?: Int8Dots;

  private constructor(
    private readonly header: Header,
    /** Unit-length vectors as int8, row r scaled by scales[r]. */
    private readonly vectors: Int8Array,
    private readonly scales: Float32Array,
  ) {}

  get settings(): ConsensusSettings {
    return { k: this.header.k, weight: this.header.weight };
  }
  get encoder(): { name: string; sha256: string } {
    return this.header.encoder;
  }
  get count(): number {
    return this.header.count;
  }
  get dim(): number {
    return this.header.dim;
  }

  /** An index of training photos: their pooled vectors and reference captions. */
  static build(options: {
    vectors: readonly Float32Array[];
    references: readonly (readonly string[])[];
    encoder: { name: string; sha256: string };
    settings: ConsensusSettings;
    source?: string;
  }): ConsensusIndex {
    const { vectors, references } = options;
    if (vectors.length === 0) throw new CaptionerError('DATA_MISSING', 'no training photos to index');
    if (vectors.length !== references.length)
      throw new RangeError(`${vectors.length} vectors for ${references.length} photos' references`);
    checkSettings(options.settings);
    const dim = vectors[0].length;
    const codes = new Int8Array(vectors.length * dim);
    const scales = new Float32Array(vectors.length);
    vectors.forEach((v, r) => {
      if (v.length !== dim) throw new RangeError(`vector ${r} has ${v.length} values, not ${dim}`);
      const { codes: row, scale } = quantise(normalise(v));
      codes.set(row, r * dim);
      scales[r] = scale;
    });
    return new ConsensusIndex(
      {
        version: VERSION,
        ...options.settings,
        encoder: options.encoder,
        count: vectors.length,
        dim,
        references: references.map((refs) => [...refs]),
        source: options.source,
      },
      codes,
      scales,
    );
  }

  /** The same index with other settings (k, weight), e.g. to tune them on dev. */
  withSettings(settings: Partial<ConsensusSettings>): ConsensusIndex {
    const next = {
      k: settings.k ?? this.header.k,
      weight: settings.weight ?? this.header.weight,
    };
    checkSettings(next);
    const index = new ConsensusIndex({ ...this.header, ...next }, this.vectors, this.scales);
    index.cider = this.cider;
    index.dots = this.dots;
    return index;
  }

  /** The file's bytes: magic, header length, JSON header, then (4-byte aligned) scales and int8 vectors. */
  serialize(): Uint8Array {
    const json = new TextEncoder().encode(JSON.stringify(this.header));
    const head = 8 + 4 + json.length;
    const scalesAt = Math.ceil(head / 4) * 4;
    const vectorsAt = scalesAt + this.scales.byteLength;
    const bytes = new Uint8Array(vectorsAt + this.vectors.byteLength);
    bytes.set(new TextEncoder().encode(MAGIC), 0);
    new DataView(bytes.buffer).setUint32(8, json.length, true);
    bytes.set(json, 12);
    bytes.set(new Uint8Array(this.scales.buffer, this.scales.byteOffset, this.scales.byteLength), scalesAt);
    bytes.set(
      new Uint8Array(this.vectors.buffer, this.vectors.byteOffset, this.vectors.byteLength),
      vectorsAt,
    );
    return bytes;
  }

  /** Reads a `consensus.bin`; `where` names it in errors. */
  static parse(bytes: Uint8Array, where = CONSENSUS_FILE): ConsensusIndex {
    const bad = (why: string) =>
      new CaptionerError('MODEL_INVALID', `${where} is not a consensus index: ${why}`);
    if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC)
      throw bad(`it does not start with ${MAGIC}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const jsonLength = view.getUint32(8, true);
    if (12 + jsonLength > bytes.length) throw bad('truncated header');
    let header: Header;
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength))) as Header;
    } catch {
      throw bad('unreadable header');
    }
    if (header.version !== VERSION)
      throw bad(`version ${String(header.version)}, this captioner reads ${VERSION}`);
    const { count, dim } = header;
    if (!(Number.isInteger(count) && count > 0 && Number.isInteger(dim) && dim > 0))
      throw bad('no photos or no dimensions');
    if (!Array.isArray(header.references) || header.references.length !== count)
      throw bad(`${header.references?.length} photos' references for ${count} vectors`);
    checkSettings(header);
    const scalesAt = Math.ceil((12 + jsonLength) / 4) * 4;
    const vectorsAt = scalesAt + count * 4;
    if (bytes.length !== vectorsAt + count * dim)
      throw bad(`${bytes.length} bytes, ${vectorsAt + count * dim} expected (truncated?)`);
    // Copies: the file's bytes need not be aligned for a Float32Array view (and a Node Buffer's slice
    // is a view into a shared pool, not a copy).
    const copy = (from: number, to: number) => {
      const out = new Uint8Array(to - from);
      out.set(bytes.subarray(from, to));
      return out.buffer;
    };
    const scales = new Float32Array(copy(scalesAt, vectorsAt));
    const vectors = new Int8Array(copy(vectorsAt, bytes.length));
    return new ConsensusIndex(header, vectors, scales);
  }

  /** The k training photos most similar to a pooled vector (cosine), most similar first. */
  nearest(pooled: ArrayLike<number>, k = this.header.k): number[] {
    const { count, dim } = this.header;
    if (pooled.length !== dim)
      throw new CaptionerError(
        'MODEL_INVALID',
        `the consensus index holds ${dim}-d vectors, the photo's has ${pooled.length}`,
      );
    // The query as int8 too: the kernel's integer sums rank the rows the same in Node and the browser.
    const query = quantise(normalise(pooled)).codes;
    this.dots ??= new Int8Dots(this.vectors, count, dim);
    const sums = this.dots.dots(query);
    const top: { row: number; sim: number }[] = [];
    for (let r = 0; r < count; r++) {
      const sim = sums[r] * this.scales[r];
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
    this.cider ??= new CiderD(this.header.references.map((refs) => refs.map(cocoTokenize)));
    const cider = this.cider;
    const { weight } = this.header;
    const scored = candidates.map((c) => {
      const tokens = cocoTokenize(c.text);
      let sum = 0;
      for (const row of rows) sum += cider.score(row, tokens);
      return { ...c, consensus: sum / rows.length };
    });
    // Stable: equal totals keep the beam's order.
    return scored
      .map((c, i) => ({ c, i, total: c.score + weight * c.consensus }))
      .sort((a, b) => b.total - a.total || a.i - b.i)
      .map(({ c }) => c);
  }
}

/**
 * Beam search, then, with an index, each image's captions reranked by consensus: the search keeps all
 * the beam's captions, they are reordered, and the `results` best are kept (what the server, the
 * evaluation and the browser all do). `pooled[i]` is image i's pooled vector.
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
  const found = await beamSearch(decoder, images, vocabulary, { ...options, results: undefined });
  return found.map((list, i) => consensus.index.rerank(consensus.pooled[i], list).slice(0, results));
}

function checkSettings({ k, weight }: ConsensusSettings): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`consensus k must be a whole number ≥ 1, got ${k}`);
  if (!Number.isFinite(weight) || weight < 0)
    throw new RangeError(`consensus weight must be ≥ 0, got ${weight}`);
}

/** Symmetric int8 codes of a vector: value ≈ code · scale, the largest magnitude at ±127. */
function quantise(v: Float32Array): { codes: Int8Array; scale: number } {
  let max = 0;
  for (const x of v) max = Math.max(max, Math.abs(x));
  const scale = max > 0 ? max / 127 : 1;
  return { codes: Int8Array.from(v, (x) => Math.round(x / scale)), scale };
}

function normalise(v: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s) || 1;
  return Float32Array.from(v as ArrayLike<number>, (x) => x / n);
}
