import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CleaningOptions } from '../data/clean.js';
import { Vocabulary } from '../data/vocabulary.js';
import type { IntegerProducts } from '../graph/passes.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic-write.js';
import { CaptionerError, errnoCode } from '../util/errors.js';
import type { Architecture, ModelConfigBase } from './architecture.js';
import { getArchitecture } from './architectures.js';
import { ParamLayout } from './params.js';
import { decodeSafetensors, encodeSafetensors, type Int8Matrix, type StoredDtype } from './safetensors.js';
import type { EncoderIdentity } from '../vision/encoder-identity.js';

/** The image encoder a model was trained on: the feature store's identity, recorded with the weights. */
export type ModelEncoderIdentity = EncoderIdentity;

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
  /** How this model decodes best, chosen on the dev split (used unless a caller says otherwise). */
  decoding?: {
    lengthPenalty?: number;
    /**
     * Run the products with its int8 weights in integers (onnxruntime's DynamicQuantizeMatMul; Q8
     * weights only): a decoding step reads a quarter of the bytes, at the cost of quantizing the
     * activations. A list of parameter names ("output.kernel"): only the products with those weights.
     */
    integerProducts?: IntegerProducts;
  };
  /**
   * An ensemble: sub-folders (relative paths), each a model folder of its own, whose next-word
   * probabilities are averaged. The other fields then describe the whole (the members must agree on
   * vocabulary and encoder) and this folder has no weights of its own.
   */
  members?: string[];
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
  decoding?: ModelFolderConfig['decoding'];
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
  await writeFileAtomic(
    join(dir, WEIGHTS_FILE),
    encodeSafetensors(layout.tensors(input.params), {
      dtype,
      metadata: { format: 'pt', producer: 'captioner', arch: arch.name },
    }),
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
    ...(input.decoding ? { decoding: input.decoding } : {}),
  };
  await writeJsonAtomic(join(dir, CONFIG_FILE), config);
}

export interface LoadedModel {
  dir: string;
  config: ModelFolderConfig;
  /** The members of an ensemble (architecture, layout and params below are the first one's). */
  members?: LoadedModel[];
  architecture: Architecture;
  vocabulary: Vocabulary;
  layout: ParamLayout;
  params: Float32Array;
  /** A Q8 folder's int8 matrices as stored, by parameter name (`params` holds their values as floats). */
  int8?: ReadonlyMap<string, Int8Matrix>;
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
  if (config.members) return loadEnsemble(dir, config, fail);
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
  const params = layout.assemble((spec) => {
    const t = file.tensors.get(spec.name);
    if (!t) return fail(`${weightsFile} has no tensor ${spec.name}`);
    if (t.shape.join('x') !== spec.shape.join('x'))
      fail(
        `${spec.name} is ${t.shape.join('×')} in ${weightsFile}, the config needs ${spec.shape.join('×')}`,
      );
    return t.data;
  });
  const extra = [...file.tensors.keys()].filter((n) => !layout.has(n));
  if (extra.length)
    fail(`${weightsFile} has tensors the ${model.arch} model does not use: ${extra.join(', ')}`);
  const int8 = new Map<string, Int8Matrix>();
  for (const [name, t] of file.tensors) if (t.int8) int8.set(name, t.int8);
  return { dir, config, architecture, vocabulary, layout, params, ...(int8.size > 0 ? { int8 } : {}) };
}

/** What a model was trained on, as far as combining or continuing it goes. */
export type TrainedOn = Pick<LoadedModel, 'vocabulary'> & { config: Pick<ModelFolderConfig, 'encoder'> };

/**
 * Why two models cannot be combined (ensembled or averaged), or a model fine-tuned on a work folder,
 * or undefined when they can: they must speak the same vocabulary and read the same encoder's features.
 */
export function incompatibility(a: TrainedOn, b: TrainedOn): string | undefined {
  if (a.vocabulary.tokens.join('\n') !== b.vocabulary.tokens.join('\n')) return 'another vocabulary';
  if (a.config.encoder?.sha256 !== b.config.encoder?.sha256) return 'another encoder';
  return undefined;
}

/** What `saveModel` needs to write a loaded (single) model again, e.g. under another dtype. */
export function saveInputOf(m: LoadedModel): SaveModelInput {
  return {
    model: m.config.model,
    encoder: m.config.encoder,
    cleaning: m.config.cleaning,
    maxCaptionLength: m.config.maxCaptionLength,
    vocabulary: m.vocabulary,
    params: m.params,
    dtype: m.config.weights.dtype,
    training: m.config.training,
    decoding: m.config.decoding,
  };
}

async function loadEnsemble(
  dir: string,
  config: ModelFolderConfig,
  fail: (why: string) => never,
): Promise<LoadedModel> {
  if (!Array.isArray(config.members) || config.members.length === 0) fail('an ensemble with no members');
  const members: LoadedModel[] = [];
  for (const name of config.members!) {
    const member = await loadModel(join(dir, name));
    if (member.members) fail(`member ${name} is itself an ensemble`);
    members.push(member);
  }
  const [first] = members;
  for (const [i, m] of members.entries()) {
    const why = incompatibility(m, first);
    if (why) fail(`member ${config.members![i]} has ${why} than ${config.members![0]}`);
  }
  return {
    ...first,
    dir,
    config: { ...first.config, ...config, model: first.config.model, encoder: first.config.encoder },
    members,
  };
}

/** Writes an ensemble folder: each member model copied into `members/<i>`, and a config naming them. */
export async function saveEnsemble(
  dir: string,
  members: LoadedModel[],
  extra: Pick<ModelFolderConfig, 'training' | 'decoding'> = {},
): Promise<void> {
  if (members.length < 2) throw new CaptionerError('MODEL_INVALID', 'an ensemble needs at least two models');
  const names: string[] = [];
  for (const [i, m] of members.entries()) {
    if (m.members) throw new CaptionerError('MODEL_INVALID', `${m.dir} is already an ensemble`);
    const why = incompatibility(m, members[0]);
    if (why) throw new CaptionerError('MODEL_INVALID', `${m.dir} has ${why} than ${members[0].dir}`);
    const name = `members/${i + 1}`;
    await saveModel(join(dir, name), saveInputOf(m));
    names.push(name);
  }
  const first = members[0].config;
  await members[0].vocabulary.save(join(dir, MODEL_VOCAB_FILE));
  const config: ModelFolderConfig = {
    format: 'captioner-model',
    version: 1,
    model: first.model,
    encoder: first.encoder,
    cleaning: first.cleaning,
    maxCaptionLength: Math.max(...members.map((m) => m.config.maxCaptionLength)),
    weights: first.weights,
    members: names,
    ...extra,
  };
  await writeJsonAtomic(join(dir, CONFIG_FILE), config);
}
