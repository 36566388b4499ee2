import { DEFAULT_MAX_LENGTH } from './caption-rules.js';

export interface DecodeOptions {
  /** Beam width k; 1 is greedy search. Default 3. */
  beam?: number;
  /**
   * Longest caption in words; a hypothesis that reaches it may only end (with the bad-ending rule, its
   * last word is a non-dangling one). Default 20.
   */
  maxLength?: number;
  /**
   * Length normalisation α: hypotheses are ranked by logProb / length^α, length counting the words
   * and the end marker. 0 (default) ranks by the plain sum of log-probabilities; 1 by the mean.
   */
  lengthPenalty?: number;
  /** Never produce a word trigram that the caption already holds. Default true. */
  blockTrigrams?: boolean;
  /** @deprecated the old name of `blockTrigrams` (used when that is not given). */
  blockRepeatedTrigrams?: boolean;
  /**
   * Never end right after a dangling word ("a", "the", "with", "in", "and", "is", …: `DANGLING_WORDS`).
   * Default true.
   */
  badEndings?: boolean;
  /** How many captions to return per image, best first (at most the beam width). Default: the beam width. */
  results?: number;
  /**
   * Beam search: search on until no live hypothesis could beat the k-th finished caption at any length
   * up to maxLength (an exact bound). Default false: stop once none beats it if it ended at the next
   * step, as Hugging Face's beam search does by default; the same ranking when α = 0. On Flickr8k dev,
   * with α = 0.8, the exact bound took 16–17 decoder steps a photo against 13, for the same caption on
   * 999 or all of the 1,000 photos.
   */
  exhaustive?: boolean;
  /**
   * Beam search, for a reranker: keep, per image, the best `keepFinished` (by score) of every caption
   * the search could have ended — each live hypothesis followed by the end marker, where the rules allow
   * it, at every step — not only the k that ended among the beam's best. The search is the same (it
   * stops on its own k finished captions); the reranker gets more to choose from at no extra decoder
   * step. Default: the beam width (no more than the search's own).
   */
  keepFinished?: number;
}

export interface DecodedCaption {
  /** Word ids, without the start and end markers. */
  tokens: number[];
  text: string;
  /** logProb / length^α: what the captions are ranked by. */
  score: number;
  /** Sum of the log-probabilities of the words and the end marker. */
  logProb: number;
  /**
   * Attention models only: where the decoder looked as it wrote each word, one row of region weights
   * (summing to 1) per entry of `tokens` (none for the end marker).
   */
  attention?: Float32Array[];
}

export interface ResolvedDecodeOptions {
  beam: number;
  maxLength: number;
  lengthPenalty: number;
  blockTrigrams: boolean;
  badEndings: boolean;
  results: number;
  exhaustive: boolean;
  keepFinished: number;
}

export function resolveDecodeOptions(options: DecodeOptions = {}): ResolvedDecodeOptions {
  const beam = options.beam ?? 3;
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  const lengthPenalty = options.lengthPenalty ?? 0;
  if (!Number.isInteger(beam) || beam < 1)
    throw new RangeError(`beam must be a whole number ≥ 1, got ${beam}`);
  if (!Number.isInteger(maxLength) || maxLength < 1)
    throw new RangeError(`maxLength must be a whole number ≥ 1, got ${maxLength}`);
  if (!Number.isFinite(lengthPenalty) || lengthPenalty < 0)
    throw new RangeError(`lengthPenalty must be ≥ 0, got ${lengthPenalty}`);
  const keepFinished = Math.max(beam, options.keepFinished ?? beam);
  if (!Number.isInteger(keepFinished))
    throw new RangeError(`keepFinished must be a whole number, got ${options.keepFinished}`);
  const results = Math.min(keepFinished, options.results ?? beam);
  if (!Number.isInteger(results) || results < 1)
    throw new RangeError(`results must be a whole number ≥ 1, got ${options.results}`);
  return {
    beam,
    maxLength,
    lengthPenalty,
    blockTrigrams: options.blockTrigrams ?? options.blockRepeatedTrigrams ?? true,
    badEndings: options.badEndings ?? true,
    results,
    exhaustive: options.exhaustive ?? false,
    keepFinished,
  };
}

/** The ranking score of a finished caption of `length` scored tokens (words + end marker). */
export function normalisedScore(logProb: number, length: number, alpha: number): number {
  return alpha === 0 ? logProb : logProb / Math.pow(length, alpha);
}
