import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { saveModel } from '../../src/model/model-folder.js';
import type { StoredDtype } from '../../src/model/safetensors.js';
import { DEFAULT_CLEANING } from '../../src/data/clean.js';
import type { CaptionItem } from '../../src/train/batches.js';
import type { TrainData, TrainOptions } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/random.js';
import type { ModelConfigBase } from '../../src/model/architecture.js';
import { getArchitecture } from '../../src/model/architectures.js';
import { ParamLayout } from '../../src/model/params.js';

/** A tiny corpus: `images` images with distinct features, each with its own fixed caption(s). */
export function tinyData(images = 10, captionsPerImage = 2, featureDim = 8): TrainData {
  const words = ['a', 'dog', 'cat', 'runs', 'sits', 'on', 'grass', 'red', 'blue', 'ball', 'in', 'water'];
  const rng = new Rng(42);
  const captions: string[][][] = [];
  for (let i = 0; i < images; i++) {
    const caps: string[][] = [];
    for (let c = 0; c < captionsPerImage; c++) {
      const len = 3 + ((i + c) % 4);
      caps.push(Array.from({ length: len }, (_, k) => words[(i * 3 + k * (c + 1)) % words.length]));
    }
    captions.push(caps);
  }
  const vocabulary = Vocabulary.build(captions.flat(), 1);
  const features = captions.map(() => Float32Array.from({ length: featureDim }, () => rng.next() * 2 - 1));
  const items: CaptionItem[] = captions.flatMap((caps, i) =>
    caps.map((c) => ({ image: i, tokens: vocabulary.encode(c) })),
  );
  return {
    train: items,
    dev: items,
    trainFeatures: (i) => features[i],
    devFeatures: (i) => features[i],
    featureDim,
    vocabulary,
    encoder: null,
    cleaning: DEFAULT_CLEANING,
    maxCaptionLength: Math.max(...items.map((it) => it.tokens.length)),
  };
}

export const TINY_MODEL = { embedDim: 6, units: 8, decoderUnits: 7 };

/**
 * A model of architecture `name` over `vocabSize` words and `featureDim` channels, its defaults
 * overridden by `sizes`, with weights initialised from `seed`.
 */
export function initModel(
  name: string,
  vocabSize: number,
  featureDim: number,
  sizes: Record<string, unknown>,
  seed: number,
) {
  const arch = getArchitecture(name);
  const config = arch.validate({ ...arch.defaults(vocabSize, featureDim), ...sizes } as ModelConfigBase);
  const layout = new ParamLayout(arch.params(config));
  const params = new Float32Array(layout.total);
  arch.init(config, layout, params, new Rng(seed));
  return { arch, config, layout, params };
}

/** A merge model of TINY_MODEL sizes over `data`'s vocabulary, with weights initialised from `seed`. */
export function tinyMergeModel(data: TrainData, seed: number, overrides: Record<string, unknown> = {}) {
  return initModel('merge', data.vocabulary.size, data.featureDim, { ...TINY_MODEL, ...overrides }, seed);
}

/**
 * A tiny merge model saved as a model folder (no encoder: synthetic 5-value features). `sharpen`
 * multiplies every weight, so next-word distributions are peaked, as a trained model's are; `dtype`
 * is how the weights are stored.
 */
export async function tinyModelDir(
  seed: number,
  vocabulary = tinyData(4, 1, 5).vocabulary,
  sharpen = 1,
  dtype: StoredDtype = 'F32',
): Promise<string> {
  const data = { ...tinyData(4, 1, 5), vocabulary };
  const { config, params } = tinyMergeModel(data, seed);
  for (let i = 0; i < params.length; i++) params[i] *= sharpen;
  const dir = await mkdtemp(join(tmpdir(), 'captioner-member-'));
  await saveModel(dir, {
    model: config,
    encoder: null,
    cleaning: data.cleaning,
    maxCaptionLength: 6,
    vocabulary,
    params,
    dtype,
  });
  return dir;
}

/**
 * A tiny untrained attention model (Show, Attend and Tell) saved as a model folder on the real
 * encoder's identity (MobileNetV2: 1,280 channels over 7×7 = 49 regions), so that loadCaptioner takes it
 * and it captions real photos: the words are noise, the attention weights are real softmax rows.
 * `sharpen` multiplies the attention's score weights: peaked weights, as a trained model's are.
 * Needs the encoder (CAPTIONER_ASSET_PATH).
 */
export async function tinyAttentionModelDir(
  options: { seed?: number; sharpen?: number } = {},
): Promise<string> {
  const { loadEncoder } = await import('../../src/vision/encoder.js');
  const encoder = await loadEncoder();
  const identity = encoder.identity;
  const [channels, h, w] = encoder.spatialDims ?? [1280, 7, 7];
  await encoder.dispose();
  // "s" so that a caption may hold "dog's" (two tokens, one word).
  const words = ['a', 'dog', 'runs', 'on', 'the', 'grass', 'man', 'red', 'shirt', 'in', 'water', 's'];
  const vocabulary = Vocabulary.build([words], 1);
  const { config, layout, params } = initModel(
    'attention',
    vocabulary.size,
    channels,
    { regions: h * w, embedDim: 8, units: 8, attentionDim: 8, dropout: 0 },
    options.seed ?? 3,
  );
  const score = layout.view(params, 'attention.score.kernel');
  for (let i = 0; i < score.length; i++) score[i] *= options.sharpen ?? 1;
  const dir = await mkdtemp(join(tmpdir(), 'captioner-attention-'));
  await saveModel(dir, {
    model: config,
    encoder: identity,
    cleaning: DEFAULT_CLEANING,
    maxCaptionLength: 8,
    vocabulary,
    params,
  });
  return dir;
}

/** Training options for tiny runs in tests: one thread, no progress, no log, constant rate, no early stop. */
export function tinyTrainOptions(outDir: string): TrainOptions {
  return {
    outDir,
    arch: 'merge',
    model: TINY_MODEL,
    epochs: 2,
    batchSize: 8,
    learningRate: 1e-2,
    seed: 11,
    clipNorm: 5,
    schedule: 'constant',
    patience: 0,
    threads: 1,
    resume: false,
    progress: false,
    log: () => {},
  };
}
