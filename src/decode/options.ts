export interface DecodeOptions {
  /** Beam width k; 1 is greedy search. Default 3. */
  beam?: number;
  /** Longest caption in words; a hypothesis that reaches it may only end. Default 30. */
  maxLength?: number;
  /**
   * Length normalisation α: hypotheses are ranked by logProb / length^α, length counting the words
   * and the end marker. 0 (default) ranks by the plain sum of log-probabilities; 1 by the mean.
   */
  lengthPenalty?: number;
  /** Never produce a word trigram that the caption already holds. Default false. */
  blockRepeatedTrigrams?: boolean;
  /** How many captions to return per image, best first (at most the beam width). Default: the beam width. */
  results?: number;
}

export interface DecodedCaption {
  /** Word ids, without the start and end markers. */
  tokens: number[];
  text: string;
  /** logProb / length^α: what the captions are ranked by. */
  score: number;
  /** Sum of the log-probabilities of the words and the end marker. */
  logProb: number;
}

export interface ResolvedDecodeOptions {
  beam: number;
  maxLength: number;
  lengthPenalty: number;
  blockRepeatedTrigrams: boolean;
  results: number;
}

export function resolveDecodeOptions(options: DecodeOptions = {}): ResolvedDecodeOptions {
  const beam = options.beam ?? 3;
  const maxLength = options.maxLength ?? 30;
  const lengthPenalty = options.lengthPenalty ?? 0;
  if (!Number.isInteger(beam) || beam < 1)
    throw new RangeError(`beam must be a whole number ≥ 1, got ${beam}`);
  if (!Number.isInteger(maxLength) || maxLength < 1)
    throw new RangeError(`maxLength must be a whole number ≥ 1, got ${maxLength}`);
  if (!Number.isFinite(lengthPenalty) || lengthPenalty < 0)
    throw new RangeError(`lengthPenalty must be ≥ 0, got ${lengthPenalty}`);
  const results = Math.min(beam, options.results ?? beam);
  if (!Number.isInteger(results) || results < 1)
    throw new RangeError(`results must be a whole number ≥ 1, got ${options.results}`);
  return {
    beam,
    maxLength,
    lengthPenalty,
    blockRepeatedTrigrams: options.blockRepeatedTrigrams ?? false,
    results,
  };
}

/** The ranking score of a finished caption of `length` scored tokens (words + end marker). */
export function normalisedScore(logProb: number, length: number, alpha: number): number {
  return alpha === 0 ? logProb : logProb / Math.pow(length, alpha);
}
