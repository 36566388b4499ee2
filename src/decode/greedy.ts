import { END, START, type Vocabulary } from '../data/vocabulary.js';
import type { StepDecoder } from '../model/step-decoder.js';
import { keepRunning } from './running-rows.js';
import { FIRST_WORD, rulesFor } from './allowed.js';
import {
  normalisedScore,
  resolveDecodeOptions,
  type DecodeOptions,
  type DecodedCaption,
  type ResolvedDecodeOptions,
} from './options.js';

/**
 * Greedy search: the most likely allowed token at every step (a word wins a tie with the end marker,
 * the lower id wins other ties). One `step` per time step for all unfinished images; finished images
 * leave the batch, so late steps get cheaper. One caption per image.
 */
export async function greedySearch(
  decoder: StepDecoder,
  images: Float32Array[],
  vocabulary: Pick<Vocabulary, 'decode' | 'tokens'>,
  options: DecodeOptions | ResolvedDecodeOptions = {},
): Promise<DecodedCaption[][]> {
  const o = resolveDecodeOptions(options);
  const V = decoder.vocabSize;
  const rules = rulesFor(o, vocabulary);
  const results: DecodedCaption[][] = images.map(() => []);
  // The images still running, in state-row order.
  let running = images.map((_, b) => ({
    image: b,
    words: [] as number[],
    logProb: 0,
    // Attention models: the region weights of each word so far.
    attention: undefined as Float32Array[] | undefined,
  }));
  let state = await decoder.start(images);
  let tokens = new Int32Array(images.length).fill(START);

  while (running.length > 0) {
    const { logProbs, state: stepped, attention } = await decoder.step(state, tokens);
    const regions = attention ? attention.length / tokens.length : 0;
    const keep: number[] = [];
    running.forEach((r, row) => {
      const base = row * V;
      let best = -1;
      let bestLogProb = -Infinity;
      if (!rules.mustEnd(r.words)) {
        const blocked = rules.blocked(r.words);
        for (let t = FIRST_WORD; t < V; t++) {
          if (logProbs[base + t] > bestLogProb && !blocked?.has(t)) {
            best = t;
            bestLogProb = logProbs[base + t];
          }
        }
      }
      if (rules.endAllowed(r.words) && (best < 0 || logProbs[base + END] > bestLogProb)) {
        best = END;
        bestLogProb = logProbs[base + END];
      }
      if (best < 0) {
        // Nothing allowed: a vocabulary of specials only, or every word blocked after a dangling one.
        if (r.words.length === 0) return;
        best = END;
        bestLogProb = logProbs[base + END];
      }
      r.logProb += bestLogProb;
      if (best === END) {
        const caption: DecodedCaption = {
          tokens: r.words,
          text: vocabulary.decode(r.words),
          score: normalisedScore(r.logProb, r.words.length + 1, o.lengthPenalty),
          logProb: r.logProb,
        };
        if (r.attention) caption.attention = r.attention;
        results[r.image].push(caption);
      } else {
        r.words.push(best);
        if (attention) (r.attention ??= []).push(attention.slice(row * regions, (row + 1) * regions));
        keep.push(row);
      }
    });
    if (keep.length === 0) break;
    ({ state, tokens, running } = keepRunning(decoder, stepped, running, keep));
  }
  return results;
}
