import type { CorpusImage } from '../data/corpus.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { cocoTokenize } from '../eval/ptb-tokenizer.js';
import { scoreTokenized, type Metric } from '../eval/score.js';
import type { StepDecoder } from '../model/step-decoder.js';
import type { DevMetric } from '../train/trainer.js';
import type { PooledFeatures } from '../vision/feature-store.js';
import { captionVectors } from './evaluate-split.js';

/**
 * A caption metric on the dev split for model selection and early stopping: dev loss rewards
 * hedging over the whole vocabulary, while what users get is the beam's single best sentence.
 */
export function captionDevMetric(
  dev: readonly CorpusImage[],
  features: PooledFeatures,
  vocabulary: Vocabulary,
  options: { metric?: Metric; beam?: number; maxLength?: number } = {},
): DevMetric {
  const metric = options.metric ?? 'ciderD';
  const images = dev.filter((m) => features.get(m.image));
  const vectors = images.map((m) => features.get(m.image)!);
  // Tokenized once: the same references are scored after every epoch.
  const references = images.map((m) => m.references.map(cocoTokenize));
  return {
    name: `${metric} (beam ${options.beam ?? 1})`,
    higherIsBetter: true,
    async evaluate(decoder: StepDecoder) {
      const texts = await captionVectors(decoder, vectors, vocabulary, {
        beam: options.beam ?? 1,
        maxLength: options.maxLength ?? 30,
      });
      return scoreTokenized(texts.map(cocoTokenize), references)[metric] * 100;
    },
  };
}
