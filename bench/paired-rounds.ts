// What bench:serve and bench:queue share to compare two settings on a machine whose speed drifts
// within a minute: several rounds of the pair, the order alternating, and the round of the median ratio.

export interface Round<T> {
  base: T;
  other: T;
  /** other / base, by the caller's measure. */
  ratio: number;
}

/**
 * `rounds` rounds of `measure(base)` and `measure(other)`, base first in odd rounds and second in even
 * ones, so that a machine speeding up or slowing down favours neither; the rounds, and the one whose
 * ratio is the median (the lower middle for an even count).
 */
export async function pairedRounds<T>(
  rounds: number,
  measure: (setting: 'base' | 'other', round: number) => Promise<T>,
  ratio: (base: T, other: T) => number,
): Promise<{ rounds: Round<T>[]; median: Round<T> }> {
  if (!(rounds >= 1)) throw new Error(`pairedRounds: ${rounds} rounds`);
  const all: Round<T>[] = [];
  for (let round = 1; round <= rounds; round++) {
    let base: T, other: T;
    if (round % 2 === 1) {
      base = await measure('base', round);
      other = await measure('other', round);
    } else {
      other = await measure('other', round);
      base = await measure('base', round);
    }
    all.push({ base, other, ratio: ratio(base, other) });
  }
  const median = [...all].sort((a, b) => a.ratio - b.ratio)[(all.length - 1) >> 1];
  return { rounds: all, median };
}
