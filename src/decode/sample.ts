import { END, START, type Vocabulary } from '../data/vocabulary.js';
import type { StepDecoder } from '../model/step-decoder.js';
import { keepRunning } from './running-rows.js';
import type { Rng } from '../util/random.js';
import { FIRST_WORD, rulesFor } from './allowed.js';

export interface SampleOptions {
  /** Captions drawn per image. */
  samples: number;
  /** Longest caption in words: a caption that reaches it stops unfinished (no end marker). */
  maxLength: number;
  /** Never end right after a dangling word (see NextTokenRules); default true. */
  badEndings?: boolean;
  rng: Rng;
}

export interface SampledCaption {
  /** Word ids, without the start and end markers. */
  tokens: number[];
  /** Whether the model chose to end it (false: it reached maxLength). */
  ended: boolean;
}

/**
 * Draws captions from the model's own next-word distribution (temperature 1), `samples` per image:
 * what self-critical training rewards and reinforces. Only the specials are never drawn and, with
 * `badEndings`, the end marker is not drawn after a dangling word (the same rule decoding applies,
 * so that the model is not taught endings the captioner would refuse). No trigram blocking: sampling
 * must show the model its own habits, loops included, for the reward to correct them.
 */
export async function sampleCaptions(
  decoder: StepDecoder,
  images: Float32Array[],
  vocabulary: Pick<Vocabulary, 'tokens'>,
  options: SampleOptions,
): Promise<SampledCaption[][]> {
  const { samples, maxLength, rng } = options;
  const V = decoder.vocabSize;
  // maxLength + 1 so that a caption of maxLength words may still end on its own (then it is finished).
  const rules = rulesFor(
    { maxLength: maxLength + 1, blockTrigrams: false, badEndings: options.badEndings ?? true },
    vocabulary,
  );
  const results: SampledCaption[][] = images.map(() => []);
  // Each image's start state, repeated once per sample.
  const repeat = Int32Array.from({ length: images.length * samples }, (_, i) => Math.floor(i / samples));
  let state = decoder.select(await decoder.start(images), repeat);
  let running = Array.from(repeat, (image) => ({ image, words: [] as number[] }));
  let tokens = new Int32Array(running.length).fill(START);
  const probs = new Float64Array(V);

  while (running.length > 0) {
    const { logProbs, state: stepped } = await decoder.step(state, tokens);
    const keep: number[] = [];
    running.forEach((r, row) => {
      const base = row * V;
      let total = 0;
      probs.fill(0);
      if (rules.endAllowed(r.words)) total += probs[END] = Math.exp(logProbs[base + END]);
      for (let t = FIRST_WORD; t < V; t++) total += probs[t] = Math.exp(logProbs[base + t]);
      let pick = -1;
      let u = rng.next() * total;
      for (let t = 0; t < V && u >= 0; t++) {
        if (probs[t] === 0) continue;
        pick = t; // the last token with mass, should rounding leave u ≥ 0 at the end
        u -= probs[t];
      }
      if (pick === END) {
        results[r.image].push({ tokens: r.words, ended: true });
        return;
      }
      r.words.push(pick);
      if (r.words.length >= maxLength) results[r.image].push({ tokens: r.words, ended: false });
      else keep.push(row);
    });
    if (keep.length === 0) break;
    ({ state, tokens, running } = keepRunning(decoder, stepped, running, keep));
  }
  // Finished order differs from sample order; a caller pairs samples with images only.
  return results;
}
