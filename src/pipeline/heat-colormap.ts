// The heat colours of the attention pictures (Node, attention-picture.ts) and of the web page's overlay:
// no Node modules here, the page imports it too.

/** Matplotlib's "inferno" (perceptually uniform, dark to bright), at 0, 0.1, …, 1. */
const INFERNO = [
  [0, 0, 4],
  [22, 11, 57],
  [66, 10, 104],
  [106, 23, 110],
  [147, 38, 103],
  [188, 55, 84],
  [221, 81, 58],
  [243, 120, 25],
  [252, 165, 10],
  [246, 215, 70],
  [252, 255, 164],
];

/** The colormap at v in 0..1 (clamped), interpolated between its stops: [r, g, b] in 0..255. */
export function heatColour(v: number): [number, number, number] {
  const at = Math.min(1, Math.max(0, v)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(at));
  const t = at - i;
  const [a, b] = [INFERNO[i], INFERNO[i + 1]];
  return [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2])];
}

/**
 * What a weight is divided by to show as heat 0..1: the word's largest weight, so every word's focus
 * shows at full heat; but at least twice the uniform weight, so that weights spread evenly over the
 * photo show as lukewarm rather than all at full heat.
 */
export function heatPeak(weights: readonly number[]): number {
  let peak = 2 / Math.max(1, weights.length);
  for (const w of weights) if (w > peak) peak = w;
  return peak;
}
