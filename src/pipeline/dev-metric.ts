import type { CorpusImage } from '../data/corpus.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { defaultMaxLength } from '../decode/caption-rules.js';
import { cocoTokenize } from '../eval/ptb-tokenizer.js';
import { scoreTokenized, type Metric } from '../eval/score.js';
import type { StepDecoder } from '../model/step-decoder.js';
import type { DevMetric } from '../train/trainer.js';
import type { PooledFeatures } from '../vision/feature-store.js';
import { captionVectors } from './evaluate-split.js';

export interface DevMetricOptions {
  metric?: Metric;
  /** Beam width; default 1 (greedy: cheap enough to run after every epoch). */
  beam?: number;
  /**
   * The longest caption the model may write (the training data's longest caption): captions are cut
   * at the captioner's own default, 20 words or this if shorter.
   */
  maxLength?: number;
  /** The decoding rules, on by default as in the captioner. */
  blockTrigrams?: boolean;
  badEndings?: boolean;
}

/**
 * A caption metric on the dev split for model selection and early stopping: dev loss rewards
 * hedging over the whole vocabulary, while what users get is the beam's single best sentence, decoded
 * with the same rules (trigram blocking, no dangling end, at most 20 words) unless told otherwise.
 */
export function captionDevMetric(
  dev: readonly CorpusImage[],
  features: Pick<PooledFeatures, 'get'>,
  vocabulary: Vocabulary,
  options: DevMetricOptions = {},
): DevMetric {
  const metric = options.metric ?? 'ciderD';
  const images = dev.filter((m) => features.get(m.image));
  const vectors = images.map((m) => features.get(m.image)!);
  // Tokenized once: the same references are scored after every epoch.
  const references = images.map((m) => m.references.map(cocoTokenize));
  const beam = options.beam ?? 1;
  return {
    name: `${metric} (beam ${beam})`,
    higherIsBetter: true,
    async evaluate(decoder: StepDecoder) {
      const texts = await captionVectors(decoder, vectors, vocabulary, {
        beam,
        maxLength: defaultMaxLength(options.maxLength),
        blockTrigrams: options.blockTrigrams ?? true,
        badEndings: options.badEndings ?? true,
      });
      return scoreTokenized(texts.map(cocoTokenize), references)[metric] * 100;
    },
  };
}
