import type { CaptionAlternative } from './captioner-types.js';

/**
 * A photo's decoded captions as the API gives them (the server's captioner and the browser's alike):
 * text and score, with its consensus where the captions were reranked, rounded to 4 decimals.
 */
export function captionAlternatives(
  captions: readonly { text: string; score: number; consensus?: number }[],
): CaptionAlternative[] {
  return captions.map((c) => ({
    text: c.text,
    score: round4(c.score),
    ...(c.consensus !== undefined ? { consensus: round4(c.consensus) } : {}),
  }));
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
