/** coco-caption's β: recall weighs 1.2² times as much as precision. */
const BETA = 1.2;

/** Length of the longest common subsequence of two token lists. */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  let prev = new Array<number>(short.length + 1).fill(0);
  let cur = new Array<number>(short.length + 1).fill(0);
  for (let i = 1; i <= long.length; i++) {
    for (let j = 1; j <= short.length; j++) {
      cur[j] = long[i - 1] === short[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[short.length];
}

/**
 * ROUGE-L of one candidate against its references, as coco-caption's Rouge.calc_score: precision and
 * recall are each the best over the references (possibly from different ones), then the F-measure.
 */
export function rougeL(candidate: readonly string[], references: readonly (readonly string[])[]): number {
  // coco splits the joined string on " ", so an empty caption is one empty token, not zero tokens.
  const cand = candidate.length === 0 ? [''] : candidate;
  let precision = 0;
  let recall = 0;
  for (const reference of references) {
    const ref = reference.length === 0 ? [''] : reference;
    const lcs = lcsLength(ref, cand);
    precision = Math.max(precision, lcs / cand.length);
    recall = Math.max(recall, lcs / ref.length);
  }
  if (precision === 0 || recall === 0) return 0;
  return ((1 + BETA ** 2) * precision * recall) / (recall + BETA ** 2 * precision);
}
