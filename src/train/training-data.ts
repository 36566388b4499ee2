import { loadCorpus, type CorpusImage } from '../data/corpus.js';
import { CaptionerError } from '../util/errors.js';
import { readPooledFeatures, type PooledFeatures } from '../vision/feature-store.js';
import type { CaptionItem } from './batches.js';
import type { TrainData } from './trainer.js';

/** The trainer's inputs, plus the dev images themselves for caption metrics. */
export interface WorkData extends TrainData {
  devImages: CorpusImage[];
  features: PooledFeatures;
}

/** What `prepare` and `features` wrote in a work folder, as the trainer's inputs. */
export async function loadTrainingData(workDir: string, encoder?: string): Promise<WorkData> {
  const { corpus, vocabulary } = await loadCorpus(workDir);
  const features = await readPooledFeatures(workDir, encoder);
  const split = (name: 'train' | 'dev') => {
    const images = corpus.splits[name];
    const vectors = images.map((m) => features.get(m.image));
    const missing = images.filter((_, i) => !vectors[i]).map((m) => m.image);
    if (missing.length)
      throw new CaptionerError(
        'FEATURES_MISSING',
        `${missing.length} ${name} images have no features (e.g. ${missing[0]}): rerun captioner features`,
      );
    const items: CaptionItem[] = images.flatMap((m, i) => m.tokens.map((tokens) => ({ image: i, tokens })));
    return { items, table: (i: number) => vectors[i]! };
  };
  const train = split('train');
  const dev = split('dev');
  const lengths = train.items.map((it) => it.tokens.length);
  return {
    train: train.items,
    dev: dev.items,
    trainFeatures: train.table,
    devFeatures: dev.table,
    featureDim: features.dim,
    vocabulary,
    encoder: features.encoder,
    cleaning: corpus.cleaning,
    maxCaptionLength: Math.max(...lengths),
    devImages: corpus.splits.dev,
    features,
  };
}
