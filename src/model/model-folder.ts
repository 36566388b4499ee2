import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CleaningOptions } from '../data/clean.js';
import { Vocabulary } from '../data/vocabulary.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic-write.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import type { Architecture, ModelConfigBase } from './architecture.js';
import { getArchitecture } from './architectures.js';
import { ParamLayout } from './params.js';
import { decodeSafetensors, encodeSafetensors, type StoredDtype } from './safetensors.js';
import type { StepDecoder } from './step-decoder.js';
import { initTf } from './tf-backend.js';

/** The image encoder a model was trained on (mirrors the feature store's identity). */
export interface ModelEncoderIdentity {
  name: string;
  sha256: string;
  inputSize: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
  resize: 'squash';
  pooledDim: number;
}

/** config.json of a model folder. */
export interface ModelFolderConfig {
  format: 'captioner-model';
  version: 1;
  model: ModelConfigBase;
  /** Null only for models trained on synthetic features (tests, benchmarks). */
  encoder: ModelEncoderIdentity | null;
  /** How captions were cleaned before the vocabulary was built: inputs must be cleaned the same way. */
  cleaning: CleaningOptions;
  /** Longest training caption in words: a sensible cap for decoding. */
  maxCaptionLength: number;
  weights: { file: string; dtype: StoredDtype };
  /** Free-form summary of how it was trained (epochs, losses, seed…). */
  training?: Record<string, unknown>;
}

export const CONFIG_FILE = 'config.json';
export const MODEL_VOCAB_FILE = 'vocab.json';
export const WEIGHTS_FILE = 'model.safetensors';

export interface SaveModelInput {
  model: ModelConfigBase;
  encoder: ModelEncoderIdentity | null;
  cleaning: CleaningOptions;
  maxCaptionLength: number;
  vocabulary: Vocabulary;
  /** Flat weights in the architecture's layout. */
  params: Float32Array;
  dtype?: StoredDtype;
  training?: Record<string, unknown>;
}

/** Writes the three files, each atomically; weights and vocabulary first, so config.json comes last. */
export async function saveModel(dir: string, input: SaveModelInput): Promise<void> {
  const arch = getArchitecture(input.model.arch);
  const layout = new ParamLayout(arch.params(arch.validate(input.model)));
  if (input.params.length !== layout.total)
    throw new Error(`saveModel: ${input.params.length} weights for a layout of ${layout.total}`);
  if (input.vocabulary.size !== input.model.vocabSize)
    throw new Error(`saveModel: vocabulary has ${input.vocabulary.size} ids, model ${input.model.vocabSize}`);
  const dtype = input.dtype ?? 'F32';
  const tensors = layout.specs.map((s) => ({
    name: s.name,
    shape: s.shape,
    data: layout.view(input.params, s.name),
  }));
  await writeFileAtomic(
    join(dir, WEIGHTS_FILE),
    encodeSafetensors(tensors, { dtype, metadata: { format: 'pt', producer: 'captioner', arch: arch.name } }),
  );
  await input.vocabulary.save(join(dir, MODEL_VOCAB_FILE));
  const config: ModelFolderConfig = {
    format: 'captioner-model',
    version: 1,
    model: input.model,
    encoder: input.encoder,
    cleaning: input.cleaning,
    maxCaptionLength: input.maxCaptionLength,
    weights: { file: WEIGHTS_FILE, dtype },
    ...(input.training ? { training: input.training } : {}),
  };
  await writeJsonAtomic(join(dir, CONFIG_FILE), config);
}

export interface LoadedModel {
  dir: string;
  config: ModelFolderConfig;
  architecture: Architecture;
  vocabulary: Vocabulary;
  layout: ParamLayout;
  params: Float32Array;
  /** A step decoder over these weights (on the tfjs backend; call dispose when done). */
  decoder(): StepDecoder;
}

/** Reads a model folder and checks that config, vocabulary and weights fit together. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const fail = (why: string): never => {
    throw new CaptionerError('MODEL_INVALID', `model ${dir}: ${why}`);
  };
  const read = async (file: string) => {
    try {
      return await readFile(join(dir, file));
    } catch (error) {
      if (errnoCode(error) === 'ENOENT')
        return fail(`no ${file} (is this a folder written by \`captioner train\`?)`);
      throw error;
    }
  };
  let config: ModelFolderConfig;
  try {
    config = JSON.parse((await read(CONFIG_FILE)).toString('utf8')) as ModelFolderConfig;
  } catch (error) {
    if (error instanceof CaptionerError) throw error;
    return fail(`${CONFIG_FILE} is not JSON`);
  }
  if (config.format !== 'captioner-model' || config.version !== 1)
    fail(`${CONFIG_FILE} is not a captioner model config (format/version)`);
  if (!config.model || typeof config.model.arch !== 'string') fail(`${CONFIG_FILE} names no architecture`);
  const architecture = getArchitecture(config.model.arch);
  const model = architecture.validate(config.model);
  if (config.encoder && config.encoder.pooledDim !== model.featureDim)
    fail(`the encoder gives ${config.encoder.pooledDim}-d vectors but the model reads ${model.featureDim}`);

  const vocabulary = await Vocabulary.load(join(dir, MODEL_VOCAB_FILE));
  if (vocabulary.size !== model.vocabSize)
    fail(`${MODEL_VOCAB_FILE} has ${vocabulary.size} ids but the model was built for ${model.vocabSize}`);

  const weightsFile = config.weights?.file ?? WEIGHTS_FILE;
  const file = decodeSafetensors(await read(weightsFile), join(dir, weightsFile));
  const layout = new ParamLayout(architecture.params(model));
  const params = new Float32Array(layout.total);
  for (const spec of layout.specs) {
    const t = file.tensors.get(spec.name);
    if (!t) fail(`${weightsFile} has no tensor ${spec.name}`);
    if (t!.shape.join('x') !== spec.shape.join('x'))
      fail(
        `${spec.name} is ${t!.shape.join('×')} in ${weightsFile}, the config needs ${spec.shape.join('×')}`,
      );
    params.set(t!.data, layout.offsets[layout.specs.indexOf(spec)]);
  }
  const extra = [...file.tensors.keys()].filter((n) => !layout.has(n));
  if (extra.length)
    fail(`${weightsFile} has tensors the ${model.arch} model does not use: ${extra.join(', ')}`);
  await initTf();
  return {
    dir,
    config,
    architecture,
    vocabulary,
    layout,
    params,
    decoder: () => architecture.stepDecoder(model, layout, params),
  };
}
