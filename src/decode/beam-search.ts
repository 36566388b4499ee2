import { END, START, type Vocabulary } from '../data/vocabulary.js';
import type { StepDecoder } from '../model/step-decoder.js';
import { FIRST_WORD, rulesFor, type NextTokenRules } from './allowed.js';
import { greedySearch } from './greedy.js';
import {
  normalisedScore,
  resolveDecodeOptions,
  type DecodeOptions,
  type DecodedCaption,
  type ResolvedDecodeOptions,
} from './options.js';

interface Live {
  words: number[];
  logProb: number;
  /** This hypothesis's row in the decoder state. */
  row: number;
  /** Attention models: the region weights of each word so far (rows shared between hypotheses, never written). */
  attention?: Float32Array[];
}

interface Finished {
  words: number[];
  logProb: number;
  score: number;
  attention?: Float32Array[];
}

interface Candidate {
  parent: number;
  token: number;
  logProb: number;
}

/**
 * Captions for a batch of images by beam search (beam 1 is greedy search). Every step is one
 * `decoder.step` over all live hypotheses of all images. Per image, each step ranks every extension
 * of its live hypotheses by summed log-probability: the best k that end (END) among the best k overall
 * are finished; the best k that do not end are the new beam. An image stops once it has k finished
 * captions that no live hypothesis can still beat (ending at the next step, or with `exhaustive` at
 * any length: a bound exact for any α ≥ 0), or at maxLength.
 * Returns, per image, the best `results` captions by normalised score, best first. With a decoder that
 * returns attention weights, each caption keeps the weights of each of its words.
 */
export async function beamSearch(
  decoder: StepDecoder,
  images: Float32Array[],
  vocabulary: Pick<Vocabulary, 'decode' | 'tokens'>,
  options: DecodeOptions = {},
): Promise<DecodedCaption[][]> {
  const o = resolveDecodeOptions(options);
  if (images.length === 0) return [];
  if (o.beam === 1) return greedySearch(decoder, images, vocabulary, o);
  const k = o.beam;
  const V = decoder.vocabSize;
  const rules = rulesFor(o, vocabulary);
  const finished: Finished[][] = images.map(() => []);
  // For a reranker (keepFinished > k): every caption the search could have ended, the best
  // keepFinished of them by score; the search itself goes on with its k finished ones.
  const kept: Finished[][] | undefined = o.keepFinished > k ? images.map(() => []) : undefined;
  let live: Live[][] = images.map((_, b) => [{ words: [], logProb: 0, row: b }]);
  let state = await decoder.start(images);
  let tokens = new Int32Array(images.length).fill(START);

  for (;;) {
    const { logProbs, state: stepped, attention } = await decoder.step(state, tokens);
    // Regions per row of this step's attention weights (attention models only).
    const regions = attention ? attention.length / tokens.length : 0;
    const parents: number[] = [];
    const nextTokens: number[] = [];
    const nextLive: Live[][] = [];
    live.forEach((hyps, b) => {
      const words = bestWords(hyps, logProbs, V, k, rules);
      const ends: Candidate[] = [];
      hyps.forEach((h, parent) => {
        if (rules.endAllowed(h.words))
          ends.push({ parent, token: END, logProb: h.logProb + logProbs[h.row * V + END] });
      });
      // Stable: on a tie a word outranks the end marker.
      const ranked = [...words, ...ends].sort((x, y) => y.logProb - x.logProb).slice(0, k);
      const finish = (c: Candidate) => {
        const { words, attention: looked } = hyps[c.parent];
        const entry: Finished = { words, logProb: c.logProb, score: score(c.logProb, words.length, o) };
        if (looked) entry.attention = looked;
        return entry;
      };
      for (const c of ranked) if (c.token === END) addFinished(finished[b], finish(c), k);
      if (kept) for (const c of ends) addFinished(kept[b], finish(c), o.keepFinished);
      // The extensions are one word longer than their parents (all of this image's are as long).
      const length = (hyps[0]?.words.length ?? 0) + 1;
      const survivors = done(finished[b], words, length, k, o) ? [] : words;
      nextLive[b] = survivors.map((c) => {
        const parent = hyps[c.parent];
        parents.push(parent.row);
        nextTokens.push(c.token);
        const next: Live = { words: [...parent.words, c.token], logProb: c.logProb, row: parents.length - 1 };
        // The row is copied: the decoder may reuse its output buffer, and beams reorder.
        if (attention)
          next.attention = [
            ...(parent.attention ?? []),
            attention.slice(parent.row * regions, (parent.row + 1) * regions),
          ];
        return next;
      });
    });
    live = nextLive;
    if (parents.length === 0) break;
    state = decoder.select(stepped, Int32Array.from(parents));
    tokens = Int32Array.from(nextTokens);
  }

  return (kept ?? finished).map((list) =>
    list.slice(0, o.results).map((f) => {
      const caption: DecodedCaption = {
        tokens: f.words,
        text: vocabulary.decode(f.words),
        score: f.score,
        logProb: f.logProb,
      };
      if (f.attention) caption.attention = f.attention;
      return caption;
    }),
  );
}

/** Normalised score of a caption of `words` words plus the end marker. */
function score(logProb: number, words: number, o: ResolvedDecodeOptions): number {
  return normalisedScore(logProb, words + 1, o.lengthPenalty);
}

/** The k best word (non-END) extensions of the hypotheses; ties keep the earlier (parent, token). */
function bestWords(
  hyps: Live[],
  logProbs: Float32Array,
  V: number,
  k: number,
  rules: NextTokenRules,
): Candidate[] {
  const top: Candidate[] = [];
  hyps.forEach((h, parent) => {
    if (rules.mustEnd(h.words)) return;
    const blocked = rules.blocked(h.words);
    const base = h.row * V;
    for (let token = FIRST_WORD; token < V; token++) {
      const logProb = h.logProb + logProbs[base + token];
      if (top.length === k && !(logProb > top[k - 1].logProb)) continue;
      if (blocked?.has(token)) continue;
      let i = Math.min(top.length, k - 1);
      if (top.length < k) top.push({ parent, token, logProb });
      while (i > 0 && logProb > top[i - 1].logProb) {
        top[i] = top[i - 1];
        i--;
      }
      top[i] = { parent, token, logProb };
    }
  });
  return top;
}

function addFinished(list: Finished[], entry: Finished, k: number): void {
  let i = list.length;
  while (i > 0 && entry.score > list[i - 1].score) i--;
  list.splice(i, 0, entry);
  if (list.length > k) list.length = k;
}

/**
 * True when no live hypothesis (`length` words long) can end better than the k-th finished caption: a
 * hypothesis's log-probability only falls as it grows, so its best possible normalised score is its
 * current sum divided by the longest length it may reach (or the sum itself when α = 0). `exhaustive`
 * lets it reach maxLength + 1 tokens (exact); by default it ends at the next step (length + 1 tokens):
 * with α > 0 the exact bound keeps most searches going to near maxLength, for captions half as long.
 */
function done(
  list: { score: number }[],
  live: Candidate[],
  length: number,
  k: number,
  o: ResolvedDecodeOptions,
): boolean {
  if (live.length === 0) return true;
  if (list.length < k) return false;
  const best = Math.max(...live.map((c) => c.logProb));
  const reach = o.exhaustive ? o.maxLength + 1 : Math.min(o.maxLength + 1, length + 1);
  const bound = o.lengthPenalty === 0 ? best : best / Math.pow(reach, o.lengthPenalty);
  return bound <= list[k - 1].score;
}
