import { END, type Vocabulary } from '../data/vocabulary.js';
import { beamSearch } from '../decode/beam-search.js';
import { greedySearch } from '../decode/greedy.js';
import { sampleCaptions, type SampledCaption } from '../decode/sample.js';
import { maxReferenceCounts, sentenceBleu } from '../eval/bleu.js';
import { CiderD } from '../eval/cider.js';
import { openWeightsDecoder } from '../model/open-decoder.js';
import { CaptionerError } from '../util/errors.js';
import { hashInts, Rng } from '../util/random.js';
import { makeBatch, rowSeeds, type CaptionItem, type FeatureTable } from './batches.js';
import type { Objective, StepStats } from './trainer.js';

/** How a sampled caption's reward is judged: against the other samples of its image, or greedy decoding. */
export type Baseline = 'mean' | 'greedy';

/**
 * Where an image's K captions come from: drawn from the model's distribution, or the K best of a beam
 * search of width K under the captioner's decoding rules (Cornia et al. 2020): captions like those the
 * captioner will write, so the reward corrects the choices beam search actually makes. With a model
 * trained with label smoothing, most samples hold an improbable word, and the reward then mostly
 * teaches the model to drop such words rather than to choose better among the likely ones.
 */
export type Candidates = 'sample' | 'beam';

export interface SelfCriticalOptions {
  /** Captions sampled per image (K); at least 2 for the 'mean' baseline. */
  samples: number;
  baseline: Baseline;
  /** Default 'sample'. */
  candidates?: Candidates;
  /** Captions per step (rounded down to whole images of `samples` captions each). */
  batchSize: number;
  /** Longest sampled caption in words; longer ones are cut and count as unfinished. */
  maxLength: number;
  seed: number;
  clipNorm: number;
  /** Cap on steps per epoch (quick trials, tests). */
  maxStepsPerEpoch?: number;
  /** Reward = CIDEr-D + this · BLEU-4 of the caption (default 0: CIDEr-D alone). */
  bleuWeight?: number;
}

/** A marker appended to finished captions and references: CIDEr-D then rewards ending well. */
const END_GRAM = String(END);

/**
 * The reward of self-critical training: CIDEr-D of a caption against its training image's references,
 * with document frequencies over all training references (not over a batch, so a caption's reward
 * does not depend on which images share its step). Tokens are word ids, and the end marker counts as
 * a token of finished captions and of every reference: a caption cut at the length limit misses the
 * n-grams that end references, so rambling on is not rewarded (as in Rennie et al.'s code).
 */
export class CaptionReward {
  private readonly cider: CiderD;
  /** Row of each training image (its index in the split) in the scorer. */
  private readonly rowOf = new Map<number, number>();
  /** With a BLEU term: each row's n-gram clips and reference lengths. */
  private readonly bleu?: { clip: Map<string, number>; lengths: number[] }[];

  /**
   * `bleuWeight` w > 0 adds w · BLEU-4 (sentence BLEU, smoothed, the end marker counted as for
   * CIDEr-D): a reward that also asks for the references' exact phrasing, which CIDEr-D's tf-idf
   * weighting discounts for common n-grams.
   */
  constructor(
    train: readonly CaptionItem[],
    private readonly bleuWeight = 0,
  ) {
    const references: string[][][] = [];
    for (const item of train) {
      let row = this.rowOf.get(item.image);
      if (row === undefined) {
        this.rowOf.set(item.image, (row = references.length));
        references.push([]);
      }
      references[row].push([...item.tokens.map(String), END_GRAM]);
    }
    this.cider = new CiderD(references);
    if (bleuWeight > 0)
      this.bleu = references.map((refs) => ({
        clip: maxReferenceCounts(refs),
        lengths: refs.map((r) => r.length),
      }));
  }

  /** Training image indices, in the order they were first seen. */
  get images(): number[] {
    return [...this.rowOf.keys()];
  }

  /** CIDEr-D on coco's 0..10 scale, plus bleuWeight · BLEU-4 (0..1). */
  score(image: number, caption: SampledCaption): number {
    const row = this.rowOf.get(image);
    if (row === undefined) throw new Error(`image ${image} has no training references`);
    const tokens = caption.tokens.map(String);
    if (caption.ended) tokens.push(END_GRAM);
    const cider = this.cider.score(row, tokens);
    if (!this.bleu) return cider;
    const { clip, lengths } = this.bleu[row];
    return cider + this.bleuWeight * sentenceBleu(tokens, clip, lengths);
  }
}

/**
 * Advantages of one image's samples: reward minus the mean reward of the image's other samples
 * (Luo 2020's "new self-critical" baseline: no extra decoding, and unbiased because a sample's baseline
 * does not depend on it), or minus the reward of the greedy caption (Rennie et al. 2017).
 */
export function advantages(rewards: readonly number[], greedyReward?: number): number[] {
  const k = rewards.length;
  if (greedyReward !== undefined) return rewards.map((r) => r - greedyReward);
  if (k < 2) throw new Error('the mean baseline needs at least 2 samples per image');
  const total = rewards.reduce((a, b) => a + b, 0);
  return rewards.map((r) => r - (total - r) / (k - 1));
}

/**
 * Self-critical sequence training (Rennie et al. 2017): each step samples `samples` captions for each
 * of a few training images from the current weights, rewards each with CIDEr-D, and takes a gradient
 * step on −Σ (reward − baseline) · log p(caption), through the training graph's per-token weights
 * (every token of a caption weighs its advantage; the end marker only where the model chose it). No
 * dropout or label smoothing: the log-probabilities are those of the policy that sampled.
 */
export function selfCritical(
  train: readonly CaptionItem[],
  features: FeatureTable,
  vocabulary: Vocabulary,
  options: SelfCriticalOptions,
): Objective {
  if (options.baseline === 'mean' && options.samples < 2)
    throw new CaptionerError(
      'USAGE',
      'self-critical training with the mean baseline needs at least 2 samples per image (--samples)',
    );
  const reward = new CaptionReward(train, options.bleuWeight ?? 0);
  const images = reward.images;
  const perStep = Math.max(1, Math.floor(options.batchSize / options.samples));
  return {
    name: 'self-critical',
    settings: {
      samples: options.samples,
      baseline: options.baseline,
      maxLength: options.maxLength,
      // Left out for sampling, the first kind, and for CIDEr-D alone: their runs stay resumable.
      ...(options.candidates === 'beam' ? { candidates: 'beam' } : {}),
      ...(options.bleuWeight ? { bleuWeight: options.bleuWeight } : {}),
    },
    rows: () => perStep * options.samples,
    epoch(epoch, model, engine) {
      const order = new Rng(hashInts(options.seed, epoch, 0x5c57)).shuffle([...images]);
      const count = Math.min(Math.ceil(order.length / perStep), options.maxStepsPerEpoch ?? Infinity);
      return {
        count,
        async run(step, learningRate): Promise<StepStats> {
          const chosen = order.slice(step * perStep, (step + 1) * perStep);
          const vectors = chosen.map((i) => features(i));
          // Each image's features once (a spatial map is decoded from float16), for all its captions.
          const byImage = new Map(chosen.map((image, k) => [image, vectors[k]]));
          // The decoding graphs hold the weights as constants: rebuilt from the live weights each step
          // (about a tenth of a second), so every caption is sampled from the policy being trained.
          const decoder = await openWeightsDecoder(model);
          let sampled: SampledCaption[][];
          let greedy: number[] | undefined;
          try {
            sampled =
              options.candidates === 'beam'
                ? (
                    await beamSearch(decoder, vectors, vocabulary, {
                      beam: options.samples,
                      results: options.samples,
                      maxLength: options.maxLength,
                    })
                  ).map((captions) => captions.map((c) => ({ tokens: c.tokens, ended: true })))
                : await sampleCaptions(decoder, vectors, vocabulary, {
                    samples: options.samples,
                    maxLength: options.maxLength,
                    rng: new Rng(hashInts(options.seed, epoch, step, 0x5a4e)),
                  });
            if (options.baseline === 'greedy') {
              const best = await greedySearch(decoder, vectors, vocabulary, { maxLength: options.maxLength });
              greedy = best.map((c, k) =>
                reward.score(chosen[k], { tokens: c[0]?.tokens ?? [], ended: true }),
              );
            }
          } finally {
            decoder.dispose();
          }
          const items: CaptionItem[] = [];
          let rewardSum = 0;
          sampled.forEach((captions, k) => {
            const rewards = captions.map((c) => reward.score(chosen[k], c));
            rewardSum += rewards.reduce((a, b) => a + b, 0);
            const adv = advantages(rewards, greedy?.[k]);
            captions.forEach((c, j) =>
              items.push({ image: chosen[k], tokens: c.tokens, weight: adv[j], open: !c.ended }),
            );
          });
          const batch = makeBatch(
            items,
            (image) => byImage.get(image)!,
            model.inputSize,
            rowSeeds(options.seed, epoch, step, items.length),
          );
          const r = await engine.step(batch, { learningRate, clipNorm: options.clipNorm, regularize: false });
          return { lossSum: r.lossSum, tokens: r.tokens, rewardSum, samples: items.length };
        },
      };
    },
  };
}
