import { loadCorpus, type CorpusImage } from '../data/corpus.js';
import { UNK } from '../data/vocabulary.js';
import { CaptionerError } from '../util/errors.js';
import { decodeFloat16 } from '../util/float16.js';
import {
  openSpatialFeatures,
  readPooledFeatures,
  type FeatureView,
  type PooledFeatures,
} from '../vision/feature-store.js';
import type { Augmentation, CaptionItem } from './batches.js';
import type { TrainData } from './trainer.js';

/** The trainer's inputs, plus the dev images themselves for caption metrics. */
export interface WorkData extends TrainData {
  devImages: CorpusImage[];
  /** What the model reads of an image by name (pooled vector or spatial map), for dev captioning. */
  features: Pick<PooledFeatures, 'get'>;
}

/**
 * What `prepare` and `features` wrote in a work folder, as the trainer's inputs: each image's pooled
 * vector, or with `spatial` its spatial map (C×H×W, for attention models), read once and kept as
 * float16 (a Flickr8k train + dev set is under 1 GB so), decoded per batch. With `augment: 'mirror'`
 * the train images' mirrored features too (`features --mirror`), as images N … 2N − 1 of the table.
 */
export async function loadTrainingData(
  workDir: string,
  encoder?: string,
  options: { spatial?: boolean; augment?: Augmentation } = {},
): Promise<WorkData> {
  const { corpus, vocabulary } = await loadCorpus(workDir);
  const features = await readPooledFeatures(workDir, encoder);
  const spatial = options.spatial
    ? await readSpatialMaps(
        workDir,
        encoder,
        [...corpus.splits.train, ...corpus.splits.dev].map((m) => m.image),
      )
    : undefined;
  const mirror = options.augment === 'mirror' ? 'mirrored' : undefined;
  const mirrored = !mirror
    ? undefined
    : options.spatial
      ? await readSpatialMaps(
          workDir,
          encoder,
          corpus.splits.train.map((m) => m.image),
          mirror,
        )
      : await readPooledFeatures(workDir, encoder, mirror);
  const split = (name: 'train' | 'dev') => {
    const images = corpus.splits[name];
    const vectors = images.map((m) => (spatial ? spatial.get(m.image) : features.get(m.image)));
    if (name === 'train' && mirrored) vectors.push(...images.map((m) => mirrored.get(m.image)));
    const missing = vectors.flatMap((v, i) => (v ? [] : [images[i % images.length].image]));
    if (missing.length)
      throw new CaptionerError(
        'FEATURES_MISSING',
        `${missing.length} ${name} images have no features (e.g. ${missing[0]}): rerun captioner features${mirrored ? ' --mirror' : ''}`,
      );
    const items: CaptionItem[] = images.flatMap((m, i) => m.tokens.map((tokens) => ({ image: i, tokens })));
    return {
      items,
      table: (i: number, out?: Float32Array) => {
        if (!spatial) return vectors[i] as Float32Array;
        const bits = vectors[i] as Uint16Array;
        return decodeFloat16(bits, out?.length === bits.length ? out : undefined);
      },
    };
  };
  const train = split('train');
  const dev = split('dev');
  const lengths = train.items.map((it) => it.tokens.length);
  const count = corpus.splits.train.length;
  return {
    train: train.items,
    ...(mirrored ? { trainMirrored: mirroredItems(train.items, count, vocabulary) } : {}),
    dev: dev.items,
    trainFeatures: train.table,
    devFeatures: dev.table,
    featureDim: features.dim,
    regions: spatial?.regions,
    vocabulary,
    encoder: features.encoder,
    cleaning: corpus.cleaning,
    maxCaptionLength: Math.max(...lengths),
    devImages: corpus.splits.dev,
    features: spatial
      ? { get: (image: string) => ((bits) => bits && decodeFloat16(bits))(spatial.get(image)) }
      : features,
  };
}

/**
 * Each train caption as it reads for its image's mirror image (image i + count): "left" and "right"
 * trade places (~0.4% of Flickr8k's captions name one).
 */
function mirroredItems(
  items: CaptionItem[],
  count: number,
  vocabulary: WorkData['vocabulary'],
): CaptionItem[] {
  const left = vocabulary.id('left');
  const right = vocabulary.id('right');
  const swap = (t: number) => (t === left && left !== UNK ? right : t === right && right !== UNK ? left : t);
  return items.map((it) => ({ ...it, image: it.image + count, tokens: it.tokens.map(swap) }));
}

/** The spatial maps of `images` as float16 bits, one read of the store. */
async function readSpatialMaps(
  workDir: string,
  encoder: string | undefined,
  images: string[],
  view?: FeatureView,
) {
  const store = await openSpatialFeatures(workDir, encoder, view);
  try {
    const size = store.dims.reduce((a, b) => a * b, 1);
    const bits = new Uint16Array(images.length * size);
    const index = new Map<string, Uint16Array>();
    for (const [k, image] of images.entries()) {
      const part = await store.readBits(image, bits.subarray(k * size, (k + 1) * size));
      if (part) index.set(image, part);
    }
    return { size, regions: store.dims[1] * store.dims[2], get: (image: string) => index.get(image) };
  } finally {
    await store.close();
  }
}
