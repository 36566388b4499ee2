import { ngramCounts, ngramOrder } from './ngrams.js';

/** coco-caption's smoothing constants: they keep a zero count from dividing by or raising zero. */
const TINY = 1e-15;
const SMALL = 1e-9;

export interface BleuResult {
  /** Corpus BLEU-1..n, fractions in [0, 1]. */
  scores: number[];
  /** Total candidate length and total effective (closest) reference length, for the brevity penalty. */
  testLength: number;
  refLength: number;
}

/**
 * Corpus BLEU as coco-caption's bleu_scorer computes it with option 'closest': clipped n-gram matches
 * and candidate n-gram totals are summed over all images; each image's effective reference length is
 * the reference length closest to the candidate's (ties: the shorter); one brevity penalty on the sums.
 */
export function corpusBleu(
  candidates: readonly (readonly string[])[],
  references: readonly (readonly (readonly string[])[])[],
  maxN = 4,
): BleuResult {
  const totals = sumBleuCounts(
    candidates.map((candidate, i) => bleuCounts(candidate, references[i], maxN)),
    maxN,
  );
  return { scores: bleuOfCounts(totals), testLength: totals.testLength, refLength: totals.refLength };
}

/** What one image adds to corpus BLEU's sums. */
export interface BleuCounts {
  /** Clipped matches of each n-gram order (1..n). */
  correct: number[];
  /** Candidate n-grams of each order. */
  guess: number[];
  testLength: number;
  /** The closest reference length. */
  refLength: number;
}

/** One image's clipped n-gram matches and totals, as corpus BLEU sums them. */
export function bleuCounts(
  candidate: readonly string[],
  references: readonly (readonly string[])[],
  maxN = 4,
): BleuCounts {
  const maxRefCounts = maxReferenceCounts(references, maxN);
  const length = candidate.length;
  const correct = new Array<number>(maxN).fill(0);
  const guess = Array.from({ length: maxN }, (_, k) => Math.max(0, length - k));
  for (const [gram, count] of ngramCounts(candidate, maxN))
    correct[ngramOrder(gram) - 1] += Math.min(maxRefCounts.get(gram) ?? 0, count);
  const refLength = closestLength(
    references.map((r) => r.length),
    length,
  );
  return { correct, guess, testLength: length, refLength };
}

/** The sums of images' counts (every entry of `counts` of the same order n). */
export function sumBleuCounts(
  counts: readonly BleuCounts[],
  maxN = counts[0]?.correct.length ?? 4,
): BleuCounts {
  const total: BleuCounts = {
    correct: new Array<number>(maxN).fill(0),
    guess: new Array<number>(maxN).fill(0),
    testLength: 0,
    refLength: 0,
  };
  for (const c of counts) {
    for (let k = 0; k < maxN; k++) {
      total.correct[k] += c.correct[k];
      total.guess[k] += c.guess[k];
    }
    total.testLength += c.testLength;
    total.refLength += c.refLength;
  }
  return total;
}

/** BLEU-1..n of summed counts: the geometric mean of the precisions, one brevity penalty. */
export function bleuOfCounts({ correct, guess, testLength, refLength }: BleuCounts): number[] {
  const scores: number[] = [];
  const ratio = (testLength + TINY) / (refLength + SMALL);
  for (let n = 1; n <= correct.length; n++) {
    let product = 1;
    for (let k = 0; k < n; k++) product *= (correct[k] + TINY) / (guess[k] + SMALL);
    let bleu = Math.pow(product, 1 / n);
    // coco applies the penalty whenever ratio < 1, which includes equal lengths (by 1e-9 / length).
    if (ratio < 1) bleu *= Math.exp(1 - 1 / ratio);
    scores.push(bleu);
  }
  return scores;
}

/** Python's min((abs(l - testlen), l) for l in reflens)[1]: the closest length, the shorter on a tie. */
export function closestLength(refLengths: readonly number[], testLength: number): number {
  let best = refLengths[0];
  for (const l of refLengths) {
    const d = Math.abs(l - testLength);
    const bestD = Math.abs(best - testLength);
    if (d < bestD || (d === bestD && l < best)) best = l;
  }
  return best;
}

/** Per n-gram, the most times any one reference has it: what clips a candidate's count. */
export function maxReferenceCounts(
  references: readonly (readonly string[])[],
  maxN = 4,
): Map<string, number> {
  const max = new Map<string, number>();
  for (const ref of references)
    for (const [gram, count] of ngramCounts(ref, maxN))
      if (count > (max.get(gram) ?? 0)) max.set(gram, count);
  return max;
}

/**
 * BLEU-n of one caption (a training reward, not an evaluation metric): clipped n-gram precisions with
 * add-one smoothing above unigrams (Lin and Och 2004), so one missing 4-gram does not zero the score,
 * and the brevity penalty against the closest reference length. `clip` is maxReferenceCounts of the
 * references, `refLengths` their lengths.
 */
export function sentenceBleu(
  candidate: readonly string[],
  clip: ReadonlyMap<string, number>,
  refLengths: readonly number[],
  maxN = 4,
): number {
  const correct = new Array<number>(maxN).fill(0);
  for (const [gram, count] of ngramCounts(candidate, maxN))
    correct[ngramOrder(gram) - 1] += Math.min(clip.get(gram) ?? 0, count);
  return sentenceBleuOfMatches(correct, candidate.length, refLengths);
}

/**
 * `sentenceBleu` of a caption of `length` words given its clipped n-gram matches by order (`correct[k]`:
 * Σ over its (k+1)-grams of min(its count, the most any one reference holds)); maxN is correct.length.
 */
export function sentenceBleuOfMatches(
  correct: ArrayLike<number>,
  length: number,
  refLengths: readonly number[],
): number {
  if (length === 0) return 0;
  const maxN = correct.length;
  let logSum = 0;
  for (let k = 0; k < maxN; k++) {
    const guess = Math.max(0, length - k);
    const p = k === 0 ? correct[0] / guess : (correct[k] + 1) / (guess + 1);
    if (p === 0) return 0;
    logSum += Math.log(p);
  }
  const ref = closestLength(refLengths, length);
  const brevity = length < ref ? Math.exp(1 - ref / length) : 1;
  return brevity * Math.exp(logSum / maxN);
}
