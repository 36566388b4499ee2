/**
 * n-gram counts of a token list, n = 1..maxN, keyed by the tokens joined with a space (coco tokens hold
 * no spaces). Insertion order is coco's precook order (all 1-grams left to right, then 2-grams, …), so
 * sums that iterate these maps add in the same order as the Python code.
 */
export function ngramCounts(tokens: readonly string[], maxN = 4): Map<string, number> {
  const counts = new Map<string, number>();
  // keys[i]: the (n-1)-gram starting at i, extended by a word per order (no slice and join per key).
  const keys = tokens.slice();
  for (let n = 1; n <= maxN; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = n === 1 ? keys[i] : (keys[i] = `${keys[i]} ${tokens[i + n - 1]}`);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** The order (n) of an n-gram key. */
export function ngramOrder(key: string): number {
  let n = 1;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 32) n++;
  return n;
}
