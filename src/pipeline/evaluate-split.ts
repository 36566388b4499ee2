import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findImagesDir } from '../data/corpus.js';
import type { Split } from '../data/splits.js';
import { defaultMaxLength } from '../decode/caption-rules.js';
import { resolveDecodeOptions, type DecodeOptions } from '../decode/options.js';
import { loadSplitReferences } from '../eval/references.js';
import { scoreCaptions, type CaptionScores } from '../eval/score.js';
import { asIntegerProducts, type IntegerProducts } from '../graph/passes.js';
import type { StepDecoder } from '../model/step-decoder.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { CONFIG_FILE, loadModel } from '../model/model-folder.js';
import { openDecoder } from '../model/open-decoder.js';
import { CaptionerError } from '../util/errors.js';
import { createProgress } from '../util/progress.js';
import { openSpatialFeatures, readPooledFeatures } from '../vision/feature-store.js';
import { beamSearchReranked, type ConsensusIndex, type ConsensusSettings } from '../decode/consensus.js';
import { loadCaptioner, loadConsensus, readsSpatial, type LoadCaptionerOptions } from './load-captioner.js';

export interface EvaluateOptions {
  model: string;
  split: Split;
  /** Flickr8k folder: captions the photos themselves, through the encoder (what users get). */
  dataDir?: string;
  /** Or a work folder of prepare + features: captions from the stored vectors (same numbers, faster). */
  workDir?: string;
  encoder?: string;
  /** Products with int8 weights in integers (default: the model's `decoding.integerProducts`). */
  integerProducts?: IntegerProducts;
  decode?: DecodeOptions;
  /** Consensus reranking with the model folder's index, if it has one (default on; settings override). */
  consensus?: LoadCaptionerOptions['consensus'];
  progress?: boolean;
}

export interface Evaluation {
  captions: { image: string; caption: string }[];
  /** Images that could not be read, with why; they get no caption and are not scored. */
  failed: { image: string; reason: string }[];
  scores: CaptionScores;
  /** The split's raw references, image → captions (what the captions were scored against). */
  references: Map<string, string[]>;
  /** The length normalisation used: the caller's, else the model's own. */
  lengthPenalty: number;
  /** How the captions were decoded: the caller's options, else the defaults (the model's for α and length). */
  decoding: EvaluationDecoding;
  seconds: number;
}

export interface EvaluationDecoding {
  beam: number;
  lengthPenalty: number;
  maxLength: number;
  blockTrigrams: boolean;
  badEndings: boolean;
  /** Which products with int8 weights ran in integers (all, none, or those of the listed weights). */
  integerProducts: IntegerProducts;
  /** The consensus reranking used (k, weight), or false: none. */
  consensus: ConsensusSettings | false;
}

/** Captions every image of a split and scores the captions against its references. */
export async function evaluateSplit(options: EvaluateOptions): Promise<Evaluation> {
  const start = performance.now();
  // The references, and where the photos are, come from the corpus (prepare's rules for a data folder).
  const { references, imagesDir: corpusImagesDir } = await loadSplitReferences(
    { dataDir: options.dataDir, workDir: options.workDir },
    options.split,
  );
  const images = [...references.keys()];
  const progress = createProgress({
    label: `captioning ${options.split}`,
    total: images.length,
    unit: 'images',
    enabled: options.progress ?? true,
  });
  const captions: Evaluation['captions'] = [];
  let lengthPenalty = options.decode?.lengthPenalty;
  const failed: Evaluation['failed'] = [];
  let consensus: ConsensusSettings | false;
  // The rules and limits as the captioner applies them, on both paths.
  const rules = resolveDecodeOptions(options.decode);
  let maxLength = options.decode?.maxLength;
  const configured = await readConfiguredDecoding(options.model);
  const integerProducts = options.integerProducts ?? configured.integerProducts;
  try {
    if (options.workDir) {
      const model = await loadModel(options.model);
      const store = await readPooledFeatures(options.workDir, model.config.encoder?.name);
      if (model.config.encoder && store.encoder.sha256 !== model.config.encoder.sha256)
        throw new CaptionerError(
          'ENCODER_MISMATCH',
          `the features in ${options.workDir} come from another encoder than the model's (${model.config.encoder.name})`,
        );
      const consensusIndex = await loadConsensus(
        options.model,
        model.config.encoder?.sha256,
        options.consensus,
      );
      consensus = consensusIndex?.settings ?? false;
      const decoder = await openDecoder(model, { integerProducts });
      // An attention model reads the spatial maps (`captioner features --spatial`), the others the vectors.
      const spatial = readsSpatial(model)
        ? await openSpatialFeatures(options.workDir, model.config.encoder?.name)
        : undefined;
      const maps = new Map<string, Float32Array>();
      if (spatial)
        for (const image of images) {
          const map = await spatial.read(image);
          if (map) maps.set(image, map);
        }
      await spatial?.close();
      const vectorOf = (image: string) => (spatial ? maps.get(image) : store.get(image));
      try {
        const found = images.filter((image) => {
          if (vectorOf(image)) return true;
          failed.push({ image, reason: 'no stored features' });
          return false;
        });
        lengthPenalty ??= model.config.decoding?.lengthPenalty ?? 0;
        maxLength ??= defaultMaxLength(model.config.maxCaptionLength);
        const texts = await captionVectors(
          decoder,
          found.map((i) => vectorOf(i)!),
          model.vocabulary,
          { ...options.decode, maxLength, lengthPenalty, results: 1 },
          (n) => progress.tick(n),
          consensusIndex && { index: consensusIndex, pooled: found.map((i) => store.get(i)!) },
        );
        found.forEach((image, i) => captions.push({ image, caption: texts[i] }));
      } finally {
        decoder.dispose();
      }
    } else {
      const imagesDir = corpusImagesDir ?? (options.dataDir && (await findImagesDir(options.dataDir)));
      if (!imagesDir) throw new CaptionerError('DATA_MISSING', `no Images/ folder in ${options.dataDir}`);
      const captioner = await loadCaptioner({
        model: options.model,
        encoder: options.encoder,
        lengthPenalty: options.decode?.lengthPenalty,
        integerProducts,
        consensus: options.consensus,
      });
      lengthPenalty ??= captioner.card.lengthPenalty;
      consensus = false;
      if (captioner.card.consensus) {
        // The card's settings, without its count of indexed photos.
        const { photos: _photos, ...settings } = captioner.card.consensus;
        consensus = settings;
      }
      maxLength ??= defaultMaxLength(configured.maxCaptionLength);
      try {
        for (let i = 0; i < images.length; i += 32) {
          const chunk = images.slice(i, i + 32);
          const results = await captioner.captionMany(
            chunk.map((image) => join(imagesDir, image)),
            {
              beam: rules.beam,
              alternatives: 0,
              maxLength,
              blockTrigrams: rules.blockTrigrams,
              badEndings: rules.badEndings,
            },
          );
          results.forEach((r, j) => {
            if ('error' in r) failed.push({ image: chunk[j], reason: r.error.message });
            else captions.push({ image: chunk[j], caption: r.caption });
          });
          progress.tick(chunk.length);
        }
      } finally {
        await captioner.dispose();
      }
    }
  } finally {
    progress.stop();
  }
  if (captions.length === 0)
    throw new CaptionerError('EVAL_EMPTY', `no image of the ${options.split} split could be captioned`);
  const scores = scoreCaptions(new Map(captions.map((c) => [c.image, c.caption])), references);
  return {
    captions,
    failed,
    scores,
    references,
    lengthPenalty: lengthPenalty ?? 0,
    decoding: {
      beam: rules.beam,
      lengthPenalty: lengthPenalty ?? 0,
      maxLength: maxLength ?? rules.maxLength,
      blockTrigrams: rules.blockTrigrams,
      badEndings: rules.badEndings,
      integerProducts,
      consensus,
    },
    seconds: (performance.now() - start) / 1000,
  };
}

/**
 * From the model folder's config.json, without loading its weights: its longest training caption and
 * whether it multiplies with its int8 weights in integers (`decoding.integerProducts`).
 */
async function readConfiguredDecoding(
  modelDir: string,
): Promise<{ maxCaptionLength?: number; integerProducts: IntegerProducts }> {
  try {
    const config = JSON.parse(await readFile(join(modelDir, CONFIG_FILE), 'utf8')) as {
      maxCaptionLength?: unknown;
      decoding?: { integerProducts?: unknown };
    };
    return {
      maxCaptionLength: typeof config.maxCaptionLength === 'number' ? config.maxCaptionLength : undefined,
      integerProducts: asIntegerProducts(config.decoding?.integerProducts),
    };
  } catch {
    return { integerProducts: false }; // unreadable: loading the model says why
  }
}

/**
 * Best caption of each vector, decoded in batches (training's dev metric uses this too); with
 * `consensus`, the beam's captions reranked by the index, each image searched by its pooled vector.
 */
export async function captionVectors(
  decoder: StepDecoder,
  vectors: Float32Array[],
  vocabulary: Pick<Vocabulary, 'decode' | 'tokens'>,
  options: DecodeOptions,
  onProgress?: (done: number) => void,
  consensus?: { index: ConsensusIndex; pooled: Float32Array[] },
): Promise<string[]> {
  const texts: string[] = [];
  for (let i = 0; i < vectors.length; i += 100) {
    const chunk = vectors.slice(i, i + 100);
    const found = await beamSearchReranked(
      decoder,
      chunk,
      vocabulary,
      { ...options, results: 1 },
      consensus && { index: consensus.index, pooled: consensus.pooled.slice(i, i + 100) },
    );
    for (const best of found) texts.push(best[0]?.text ?? '');
    onProgress?.(chunk.length);
  }
  return texts;
}
