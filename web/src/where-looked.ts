// No DOM here: the tests import it under Node.

/**
 * Where most of the weight is, in words: "all over the photo" when it is spread out, else the part of
 * the photo (thirds: "the top left", "the centre", "the bottom", …) around its strongest regions.
 */
export function whereLooked(weights: readonly number[], [rows, columns]: readonly [number, number]): string {
  const peak = Math.max(...weights);
  if (!(peak >= 3 / weights.length)) return 'all over the photo';
  let total = 0;
  let row = 0;
  let column = 0;
  weights.forEach((w, i) => {
    if (w < peak / 2) return;
    total += w;
    row += w * (Math.floor(i / columns) + 0.5);
    column += w * ((i % columns) + 0.5);
  });
  const third = (at: number, size: number) => Math.min(2, Math.floor((3 * at) / size));
  const vertical = ['top', 'middle', 'bottom'][third(row / total, rows)];
  const horizontal = ['left', 'centre', 'right'][third(column / total, columns)];
  if (vertical === 'middle')
    return horizontal === 'centre' ? 'mostly the centre' : `mostly the ${horizontal}`;
  return horizontal === 'centre' ? `mostly the ${vertical}` : `mostly the ${vertical} ${horizontal}`;
}
