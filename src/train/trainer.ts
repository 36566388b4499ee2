import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CleaningOptions } from '../data/clean.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { inputShape, type ModelConfigBase } from '../model/architecture.js';
import { getArchitecture } from '../model/architectures.js';
import { openWeightsDecoder, type DecoderWeights } from '../model/open-decoder.js';
import { saveModel, type ModelEncoderIdentity } from '../model/model-folder.js';
import { ParamLayout } from '../model/params.js';
import type { StepDecoder } from '../model/step-decoder.js';
import type { StoredDtype } from '../model/safetensors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';
import { lockFolder } from '../util/folder-lock.js';
import { createProgress } from '../util/progress.js';
import { hashInts, Rng } from '../util/random.js';
import {
  makeBatch,
  pickViews,
  planEpoch,
  planEval,
  rowSeeds,
  type Augmentation,
  type CaptionItem,
  type FeatureTable,
} from './batches.js';
import { loadCheckpoint, saveCheckpoint, type EpochRecord, type TrainerState } from './checkpoint.js';
import { TrainingEngine } from './engine.js';
import { lossCurveSvg } from './loss-curve.js';

export type Schedule = 'constant' | 'cosine' | 'plateau';

/**
 * A score on dev captions computed from the model (e.g. BLEU, once evaluation exists). When given,
 * it replaces dev loss for early stopping and for picking the saved epoch.
 */
export interface DevMetric {
  name: string;
  higherIsBetter: boolean;
  evaluate(decoder: StepDecoder): Promise<number>;
}

export interface TrainOptions {
  outDir: string;
  arch: string;
  /** Overrides of the architecture's defaults (sizes, dropout). */
  model?: Record<string, unknown>;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Global L2 norm of the mean-loss gradient; 0 turns clipping off. */
  clipNorm: number;
  schedule: Schedule;
  /** Stop after this many epochs without improvement on dev (0: never). */
  patience: number;
  /** onnxruntime threads for a training step (the machine's cores, usually). */
  threads: number;
  resume: boolean;
  weightsDtype?: StoredDtype;
  devMetric?: DevMetric;
  /** Also keep every epoch's weights as a model folder `epochs/<n>` (for checkpoint averaging). */
  keepEpochs?: boolean;
  /** Cap on steps per epoch (benchmarks, tests). */
  maxStepsPerEpoch?: number;
  /**
   * 'mirror': every epoch, each caption is trained on its photo or, drawn with probability ½, on the
   * photo's mirror image (`TrainData.trainMirrored`). Kept in the checkpoint, so that a resume draws
   * the same; an objective of its own (self-critical) takes the mirrored captions as it needs them.
   */
  augment?: Augmentation;
  /** Weights to start from instead of a fresh initialisation (fine-tuning, e.g. self-critical). */
  initialParams?: Float32Array;
  /** What a step optimises; default: teacher forcing on the reference captions (cross-entropy). */
  objective?: Objective;
  /** Recorded in the saved model's `training` block (e.g. the model a fine-tuning started from). */
  notes?: Record<string, unknown>;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface TrainData {
  train: CaptionItem[];
  /** `train` as its photos' mirror images read it (see loadTrainingData), for `augment: 'mirror'`. */
  trainMirrored?: CaptionItem[];
  dev: CaptionItem[];
  trainFeatures: FeatureTable;
  devFeatures: FeatureTable;
  /** Channels of the image features (the pooled vector's length). */
  featureDim: number;
  /** Regions of the spatial maps, when the tables hold maps (C×regions) for an attention model. */
  regions?: number;
  vocabulary: Vocabulary;
  encoder: ModelEncoderIdentity | null;
  cleaning: CleaningOptions;
  maxCaptionLength: number;
}

/**
 * The model being trained, for an objective that decodes with it (self-critical sampling): its
 * `params` are the live weights, updated in place by every step.
 */
export interface TrainingModel extends DecoderWeights {
  /** Floats per image of the features the model reads. */
  inputSize: number;
}

/** The figures of one step, summed over the epoch. */
export interface StepStats {
  lossSum: number;
  tokens: number;
  /** Self-critical training: the summed reward of the step's sampled captions, and how many there were. */
  rewardSum?: number;
  samples?: number;
}

/** One epoch as steps: how many, and each step run (it builds its batch and calls engine.step). */
export interface EpochSteps {
  count: number;
  run(step: number, learningRate: number): Promise<StepStats>;
}

/**
 * What a step optimises and on which batches. The trainer owns the rest: the engine, the schedule,
 * dev evaluation, checkpoints and model selection, the same for every objective.
 */
export interface Objective {
  /** Shown in logs and kept in the checkpoint: a resume must use the same objective. */
  name: string;
  /** Its settings that a resume must match (JSON-comparable). */
  settings: Record<string, unknown>;
  /** Captions per step: the rows the training graphs are built for. */
  rows(batchSize: number): number;
  epoch(epoch: number, model: TrainingModel, engine: TrainingEngine): EpochSteps;
}

export interface TrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  stoppedEarly: boolean;
  params: Float32Array;
}

export const METRICS_FILE = 'metrics.jsonl';
export const LOSS_CURVE_FILE = 'loss-curve.svg';
export const EPOCHS_DIR = 'epochs';

/** Options that must match between a run and its resume (the rest, like epochs, may change). */
const FIXED_OPTIONS = ['arch', 'batchSize', 'seed', 'clipNorm', 'schedule', 'augment'] as const;

/**
 * Teacher forcing: each step a batch of reference captions (shuffled, grouped by length), the
 * cross-entropy of every next word with the model's regularisation on.
 */
export function teacherForcing(
  data: Pick<TrainData, 'train' | 'trainMirrored' | 'trainFeatures'>,
  options: TrainOptions,
): Objective {
  const mirrored = data.trainMirrored;
  if (options.augment === 'mirror' && mirrored?.length !== data.train.length)
    throw new Error('augment mirror: the training data has no mirrored captions');
  return {
    name: 'cross-entropy',
    settings: {},
    rows: (batchSize) => batchSize,
    epoch(epoch, model, engine) {
      const items =
        options.augment === 'mirror' ? pickViews(data.train, mirrored!, options.seed, epoch) : data.train;
      const plan = planEpoch(items, options.batchSize, options.seed, epoch).slice(
        0,
        options.maxStepsPerEpoch ?? Infinity,
      );
      return {
        count: plan.length,
        run: (step, learningRate) =>
          engine.step(
            makeBatch(
              plan[step],
              data.trainFeatures,
              model.inputSize,
              rowSeeds(options.seed, epoch, step, plan[step].length),
            ),
            { learningRate, clipNorm: options.clipNorm },
          ),
      };
    },
  };
}

export async function trainModel(data: TrainData, options: TrainOptions): Promise<TrainResult> {
  // Two runs writing one checkpoint would each resume from the other's epochs.
  await mkdir(options.outDir, { recursive: true });
  const unlock = await lockFolder(options.outDir, 'training run');
  try {
    return await train(data, options);
  } finally {
    await unlock();
  }
}

async function train(data: TrainData, options: TrainOptions): Promise<TrainResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const arch = getArchitecture(options.arch);
  const config = arch.validate({
    ...withRegions(arch.defaults(data.vocabulary.size, data.featureDim), data.regions),
    ...options.model,
  } as ModelConfigBase);
  const layout = new ParamLayout(arch.params(config));
  const inputSize = inputShape(arch, config).reduce((a, b) => a * b, 1); // floats per image
  const objective = options.objective ?? teacherForcing(data, options);
  const fixed: Record<string, unknown> = Object.fromEntries(FIXED_OPTIONS.map((k) => [k, options[k]]));
  // Cross-entropy runs predate the key: leaving it out keeps their checkpoints resumable.
  if (options.objective) fixed.objective = { name: objective.name, ...objective.settings };

  const checkpoint = await loadCheckpoint(options.outDir, layout);
  if (options.resume && !checkpoint)
    throw new CaptionerError('TRAIN_RESUME', `nothing to resume: no checkpoint in ${options.outDir}`);
  if (!options.resume && checkpoint)
    throw new CaptionerError(
      'TRAIN_EXISTS',
      `${options.outDir} already holds a training run; pass --resume to continue it or choose another --out`,
    );
  if (checkpoint) {
    for (const k of [...FIXED_OPTIONS, 'objective'])
      if (JSON.stringify(checkpoint.state.options[k]) !== JSON.stringify(fixed[k]))
        throw new CaptionerError(
          'TRAIN_RESUME',
          `cannot resume: ${k} was ${JSON.stringify(checkpoint.state.options[k])}, now ${JSON.stringify(fixed[k])}`,
        );
    if (JSON.stringify(checkpoint.state.model) !== JSON.stringify(config))
      throw new CaptionerError(
        'TRAIN_RESUME',
        'cannot resume: the model configuration differs from the checkpoint',
      );
  }

  const engine = new TrainingEngine(arch, config, layout, {
    rows: objective.rows(options.batchSize),
    threads: options.threads,
  });
  const params = engine.params;
  if (checkpoint) params.set(checkpoint.params);
  else if (options.initialParams) {
    if (options.initialParams.length !== layout.total)
      throw new Error(
        `initial weights: ${options.initialParams.length} values for a layout of ${layout.total}`,
      );
    params.set(options.initialParams);
  } else arch.init(config, layout, params, new Rng(hashInts(options.seed, 0x1417)));
  const model: TrainingModel = { architecture: arch, config, layout, params, inputSize };
  const state: TrainerState = checkpoint?.state ?? {
    epoch: 0,
    learningRate: options.learningRate,
    bestEpoch: 0,
    bestScore: options.devMetric?.higherIsBetter ? -Infinity : Infinity,
    badEpochs: 0,
    stopped: false,
    history: [],
    options: fixed,
    model: config as unknown as Record<string, unknown>,
  };
  if (checkpoint) engine.setOptimizerState(checkpoint.adam);
  if (checkpoint) log(`resuming after epoch ${state.epoch}`);

  const devBatches = planEval(data.dev, options.batchSize);
  const better = (a: number, b: number) => (options.devMetric?.higherIsBetter ? a > b : a < b);
  let totalSteps = 0; // of the whole run, for the cosine schedule; known once the first epoch is planned

  try {
    while (state.epoch < options.epochs && !state.stopped) {
      const epoch = state.epoch;
      const steps = objective.epoch(epoch, model, engine);
      totalSteps ||= steps.count * options.epochs;
      const progress = createProgress({
        label: `epoch ${epoch + 1}/${options.epochs}`,
        total: steps.count,
        unit: 'steps',
        fields: ['loss', 'tok/s', 'reward'],
        enabled: options.progress ?? true,
      });
      const started = performance.now();
      let lossSum = 0;
      let tokens = 0;
      let rewardSum = 0;
      let samples = 0;
      let learningRate = state.learningRate;
      for (let step = 0; step < steps.count; step++) {
        learningRate = learningRateAt(options, state.learningRate, epoch * steps.count + step, totalSteps);
        const r = await steps.run(step, learningRate);
        lossSum += r.lossSum;
        tokens += r.tokens;
        rewardSum += r.rewardSum ?? 0;
        samples += r.samples ?? 0;
        const seconds = (performance.now() - started) / 1000;
        progress.tick(1, {
          loss: (lossSum / tokens).toFixed(3),
          'tok/s': Math.round(tokens / seconds),
          ...(samples ? { reward: ((100 * rewardSum) / samples).toFixed(1) } : {}),
        });
      }
      progress.stop();
      const seconds = (performance.now() - started) / 1000;

      let devLossSum = 0;
      let devTokens = 0;
      for (const items of devBatches) {
        const r = await engine.loss(
          makeBatch(items, data.devFeatures, inputSize, new Uint32Array(items.length)),
        );
        devLossSum += r.lossSum;
        devTokens += r.tokens;
      }
      const record: EpochRecord = {
        epoch: epoch + 1,
        trainLoss: lossSum / Math.max(1, tokens),
        devLoss: devTokens ? devLossSum / devTokens : NaN,
        learningRate,
        tokens,
        seconds,
        tokensPerSecond: tokens / seconds,
        time: new Date().toISOString(),
        ...(samples ? { trainReward: (100 * rewardSum) / samples } : {}),
      };
      if (options.devMetric) {
        const decoder = await openWeightsDecoder(model);
        try {
          record.devMetric = {
            name: options.devMetric.name,
            value: await options.devMetric.evaluate(decoder),
          };
        } finally {
          decoder.dispose();
        }
      }
      const score = record.devMetric?.value ?? record.devLoss;
      const modelFolder = (dtype = options.weightsDtype) => ({
        model: config,
        encoder: data.encoder,
        cleaning: data.cleaning,
        maxCaptionLength: data.maxCaptionLength,
        vocabulary: data.vocabulary,
        params,
        dtype,
        training: {
          epoch: epoch + 1,
          trainLoss: record.trainLoss,
          devLoss: record.devLoss,
          ...fixed,
          ...options.notes,
          learningRate: options.learningRate,
          ...(record.devMetric ? { devMetric: record.devMetric } : {}),
        },
      });
      if (options.keepEpochs)
        await saveModel(join(options.outDir, EPOCHS_DIR, String(epoch + 1)), modelFolder('F32'));
      state.history.push(record);
      state.epoch = epoch + 1;
      const improved = better(score, state.bestScore) || state.history.length === 1;
      if (improved) {
        state.bestScore = score;
        state.bestEpoch = epoch + 1;
        state.badEpochs = 0;
        await saveModel(options.outDir, modelFolder());
      } else {
        state.badEpochs++;
        if (options.schedule === 'plateau') state.learningRate /= 2;
        if (options.patience > 0 && state.badEpochs >= options.patience) state.stopped = true;
      }
      log(
        `epoch ${epoch + 1}: train loss ${record.trainLoss.toFixed(4)}${record.trainReward !== undefined ? `, mean sample reward ${record.trainReward.toFixed(2)}` : ''}, dev loss ${record.devLoss.toFixed(4)}` +
          (record.devMetric ? `, dev ${record.devMetric.name} ${record.devMetric.value.toFixed(4)}` : '') +
          `, ${Math.round(record.tokensPerSecond)} tokens/s${improved ? ' (best, saved)' : ''}${state.stopped ? '; stopping early' : ''}`,
      );
      await saveCheckpoint(options.outDir, layout, params, engine.getOptimizerState(), state);
      await writeFileAtomic(
        join(options.outDir, METRICS_FILE),
        state.history.map((h) => JSON.stringify(h)).join('\n') + '\n',
      );
      await writeFileAtomic(join(options.outDir, LOSS_CURVE_FILE), lossCurveSvg(state.history));
    }
  } finally {
    await engine.close();
  }
  return {
    history: state.history,
    bestEpoch: state.bestEpoch,
    stoppedEarly: state.stopped,
    params: params.slice(),
  };
}

/** Learning rate for a global step: plateau and constant hold the epoch's rate; cosine anneals to 10%. */
export function learningRateAt(
  options: Pick<TrainOptions, 'schedule'>,
  base: number,
  step: number,
  total: number,
): number {
  if (options.schedule !== 'cosine') return base;
  const progress = Math.min(1, step / Math.max(1, total));
  return base * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** The architecture's defaults with the stored maps' region count, where it has that setting. */
function withRegions(defaults: ModelConfigBase, regions: number | undefined): ModelConfigBase {
  return regions !== undefined && 'regions' in defaults
    ? ({ ...defaults, regions } as ModelConfigBase)
    : defaults;
}
