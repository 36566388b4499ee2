import type { Vocabulary } from '../data/vocabulary.js';
import type { WordAttention } from './captioner-types.js';

/**
 * The caption's words as `vocabulary.decode` prints them, each with the attention weights of its
 * tokens: `rows[i]` is where the model looked when it wrote `tokens[i]`. Tokens that decode into one
 * word ("dog" + "s" → "dog's", "lʼ" + "été" → "l'été") share it and their rows are averaged. Which
 * tokens join is read from `decode` itself (token i starts a word when the prefix through it decodes to
 * one more word), so this follows whatever rules it has. Weights are rounded to 6 decimals and sum to 1.
 */
export function wordAttention(
  tokens: readonly number[],
  rows: readonly Float32Array[],
  vocabulary: Pick<Vocabulary, 'decode'>,
): WordAttention[] {
  const countWords = (text: string) => (text === '' ? 0 : text.split(' ').length);
  const words = vocabulary.decode(tokens).split(' ').filter(Boolean);
  const groups: number[][] = [];
  let count = 0;
  for (let i = 0; i < tokens.length && i < rows.length; i++) {
    const n = countWords(vocabulary.decode(tokens.slice(0, i + 1)));
    if (n > count || groups.length === 0) groups.push([i]);
    else groups[groups.length - 1].push(i);
    count = n;
  }
  return words.slice(0, groups.length).map((word, w) => ({
    word,
    weights: normalisedWeights(groups[w].map((i) => rows[i])),
  }));
}

/** The mean of rows, as plain numbers rounded to 6 decimals whose sum is 1 (the rounding's rest goes to the largest). */
export function normalisedWeights(rows: readonly Float32Array[]): number[] {
  const n = rows[0]?.length ?? 0;
  const mean = new Array<number>(n).fill(0);
  for (const row of rows) for (let j = 0; j < n; j++) mean[j] += Math.max(0, row[j]);
  const total = mean.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return mean.map(() => round6(1 / n));
  const weights = mean.map((v) => round6(v / total));
  let largest = 0;
  for (let j = 1; j < n; j++) if (weights[j] > weights[largest]) largest = j;
  weights[largest] = round6(weights[largest] + 1 - weights.reduce((a, b) => a + b, 0));
  return weights;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
