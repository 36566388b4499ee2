import type { Command } from 'commander';
import { Option } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { METRICS, type Metric } from '../../eval/score.js';
import { architectureNames, getArchitecture } from '../../model/architectures.js';
import { captionDevMetric } from '../../pipeline/dev-metric.js';
import type { Augmentation } from '../../train/batches.js';
import { loadTrainingData, type WorkData } from '../../train/training-data.js';
import { selfCritical, type Baseline, type Candidates } from '../../train/self-critical.js';
import { incompatibility, loadModel, type LoadedModel } from '../../model/model-folder.js';
import { defaultMaxLength } from '../../decode/caption-rules.js';
import { CaptionerError } from '../../util/errors.js';
import { inputShape } from '../../model/architecture.js';
import { trainModel, LOSS_CURVE_FILE, METRICS_FILE, type Schedule } from '../../train/trainer.js';
import {
  belowOne,
  nonNegative,
  nonNegativeInt,
  positiveInt,
  positiveNumber,
  runCommand,
} from '../run-command.js';

interface TrainFlags {
  work: string;
  out: string;
  arch: string;
  encoder?: string;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  clip: number;
  schedule: Schedule;
  patience: number;
  threads: number;
  resume?: boolean;
  float16?: boolean;
  embedDim?: number;
  units?: number;
  dropout?: number;
  attentionDim?: number;
  attentionPenalty?: number;
  labelSmoothing?: number;
  keepEpochs?: boolean;
  augment?: Augmentation;
  maxSteps?: number;
  selectBy: 'loss' | Metric;
  progress: boolean;
  scst?: boolean;
  from?: string;
  samples: number;
  baseline: Baseline;
  candidates: Candidates;
  bleuWeight: number;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train a caption decoder on the prepared corpus and stored image features')
    .requiredOption('--work <workdir>', 'work folder written by `captioner prepare` and `captioner features`')
    .requiredOption(
      '--out <modeldir>',
      'model folder to write (weights, config, vocabulary, checkpoint, metrics)',
    )
    .option('--arch <name>', `decoder architecture (${architectureNames().join(', ')})`, 'merge')
    .option('--encoder <name>', 'which stored features to train on (default: the default encoder)')
    .option('--epochs <n>', 'epochs to train (in total, counting resumed ones)', positiveInt('--epochs'), 20)
    .option('--batch <n>', 'captions per step', positiveInt('--batch'), 64)
    .option('--lr <rate>', 'Adam learning rate', positiveNumber('--lr'), 1e-3)
    .option('--seed <n>', 'seed for initialisation, shuffling and dropout', nonNegativeInt('--seed'), 1)
    .option('--clip <norm>', 'clip the gradient to this global L2 norm (0: off)', nonNegative('--clip'), 5)
    .addOption(
      new Option(
        '--schedule <kind>',
        'learning rate: constant, cosine, or plateau (halve when dev loss stalls)',
      )
        .choices(['constant', 'cosine', 'plateau'])
        .default('plateau'),
    )
    .option(
      '--patience <n>',
      'stop after this many epochs without dev improvement (0: never)',
      nonNegativeInt('--patience'),
      3,
    )
    .option(
      '--threads <n>',
      'onnxruntime threads for a training step',
      positiveInt('--threads'),
      Math.min(2, availableParallelism()),
    )
    .option('--embed-dim <n>', 'word embedding width', positiveInt('--embed-dim'))
    .option('--units <n>', 'LSTM and projection width', positiveInt('--units'))
    .option(
      '--dropout <p>',
      'dropout rate (merge: image vector and embeddings; attention: embeddings and output)',
      belowOne('--dropout'),
    )
    .option(
      '--attention-dim <n>',
      'attention models: width of the attention layer',
      positiveInt('--attention-dim'),
    )
    .option(
      '--attention-penalty <λ>',
      'attention models: weight of the doubly stochastic penalty λ·Σ(1 − Σₜαₜ)²',
      nonNegative('--attention-penalty'),
    )
    .option(
      '--label-smoothing <eps>',
      'label smoothing of the training targets (0: off)',
      nonNegative('--label-smoothing'),
    )
    .option('--float16', 'store the weights as float16 (half the size)')
    .option(
      '--keep-epochs',
      "also keep every epoch's weights in <modeldir>/epochs/<n> (for `captioner average`)",
    )
    .option('--max-steps <n>', 'at most this many steps per epoch (quick trials)', positiveInt('--max-steps'))
    .addOption(
      new Option(
        '--augment <kind>',
        "mirror: each epoch, train each caption on its photo or (half the time) the photo's mirror image, left and right swapped (`features --mirror` first); with --scst the mirror images join the training images",
      ).choices(['mirror']),
    )
    .addOption(
      new Option(
        '--select-by <what>',
        'keep the epoch with the best dev loss, or the best dev caption score (greedy)',
      )
        .choices(['loss', ...METRICS])
        .default('ciderD'),
    )
    .option(
      '--scst',
      'self-critical fine-tuning of the --from model for CIDEr-D (learning rate 5e-5 unless --lr; epochs chosen by dev CIDEr-D, beam 3)',
    )
    .option('--from <modeldir>', 'with --scst: the trained model to fine-tune (its work folder is --work)')
    .option('--samples <k>', 'with --scst: captions sampled per image', positiveInt('--samples'), 5)
    .addOption(
      new Option(
        '--baseline <kind>',
        "with --scst: a sample's reward is judged against the mean of its image's other samples, or greedy decoding",
      )
        .choices(['mean', 'greedy'])
        .default('mean'),
    )
    .addOption(
      new Option(
        '--candidates <kind>',
        "with --scst: each image's captions are drawn from the model, or are the best of a beam search of that width",
      )
        .choices(['sample', 'beam'])
        .default('sample'),
    )
    .option(
      '--bleu-weight <w>',
      "with --scst: reward CIDEr-D + w · BLEU-4 (each caption's smoothed BLEU-4 against its image's references)",
      nonNegative('--bleu-weight'),
      0,
    )
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--no-progress', 'no progress bar')
    .action(
      runCommand(async (flags: TrainFlags, command: Command) => {
        for (const k of ['samples', 'baseline', 'candidates', 'bleuWeight'] as const)
          if (!flags.scst && command.getOptionValueSource(k) === 'cli')
            throw new CaptionerError(
              'USAGE',
              `--${kebab(k)} is for self-critical training: add --scst --from <model>`,
            );
        const start = flags.scst ? await fineTuningStart(flags, command) : undefined;
        const archName = start?.config.model.arch ?? flags.arch;
        const arch = getArchitecture(archName);
        const spatial = inputShape(arch, arch.defaults(1, 1)).length > 1; // reads the spatial map
        const data = await loadTrainingData(resolve(flags.work), flags.encoder, {
          spatial,
          augment: flags.augment,
        });
        if (start) checkSameData(start, data);
        const devMetric =
          flags.selectBy === 'loss'
            ? undefined
            : captionDevMetric(data.devImages, data.features, data.vocabulary, {
                metric: flags.selectBy,
                maxLength: data.maxCaptionLength,
                // Self-critical models are chosen as they will be used: beam search.
                beam: start ? 3 : 1,
              });
        // Each flag sets the configuration fields of that meaning the architecture has.
        const fields = Object.keys(arch.defaults(1, 1));
        const model: Record<string, unknown> = {};
        const set = (keys: string[], value: unknown) => {
          if (value === undefined) return;
          for (const k of keys) if (fields.includes(k)) model[k] = value;
        };
        set(['embedDim'], flags.embedDim);
        set(['units', 'decoderUnits'], flags.units);
        set(['dropout', 'imageDropout', 'embedDropout'], flags.dropout);
        set(['attentionDim'], flags.attentionDim);
        set(['attentionPenalty'], flags.attentionPenalty);
        if (flags.labelSmoothing !== undefined) model.labelSmoothing = flags.labelSmoothing;
        const out = resolve(flags.out);
        const learningRate =
          start && command.getOptionValueSource('lr') === 'default' ? SCST_LEARNING_RATE : flags.lr;
        process.stderr.write(
          (start
            ? `self-critical fine-tuning of ${start.dir}, ${flags.samples} ${flags.candidates === 'beam' ? 'beams' : 'samples'} per image, ${flags.baseline} baseline: `
            : '') +
            `training ${archName} on ${data.train.length} captions (${data.vocabulary.size} ids, ${data.featureDim}-d ${data.encoder?.name ?? ''} features${data.regions ? ` over ${data.regions} regions` : ''})${flags.augment ? ', and their photos mirrored' : ''}, ${flags.threads} thread(s)\n`,
        );
        const result = await trainModel(data, {
          outDir: out,
          arch: archName,
          model: start ? { ...start.config.model } : model,
          ...(start && {
            initialParams: start.params,
            notes: { fineTunedFrom: flags.from, startEpoch: start.config.training?.epoch },
            // With --augment mirror, the mirror images are training images of their own: each with its
            // photo's references, left and right swapped.
            objective: selfCritical(
              [...data.train, ...(data.trainMirrored ?? [])],
              data.trainFeatures,
              data.vocabulary,
              {
                samples: flags.samples,
                baseline: flags.baseline,
                candidates: flags.candidates,
                bleuWeight: flags.bleuWeight,
                batchSize: flags.batch,
                maxLength: defaultMaxLength(data.maxCaptionLength),
                seed: flags.seed,
                clipNorm: flags.clip,
                maxStepsPerEpoch: flags.maxSteps,
              },
            ),
          }),
          epochs: flags.epochs,
          batchSize: flags.batch,
          learningRate,
          seed: flags.seed,
          clipNorm: flags.clip,
          schedule: flags.schedule,
          patience: flags.patience,
          threads: flags.threads,
          resume: flags.resume ?? false,
          weightsDtype: flags.float16 ? 'F16' : 'F32',
          maxStepsPerEpoch: flags.maxSteps,
          keepEpochs: flags.keepEpochs,
          augment: flags.augment,
          devMetric,
          progress: flags.progress,
        });
        const best = result.history[result.bestEpoch - 1];
        process.stdout.write(
          `model written to ${out} (epoch ${result.bestEpoch}, dev loss ${best?.devLoss.toFixed(4)})${result.stoppedEarly ? ', stopped early' : ''}\n` +
            `metrics: ${resolve(out, METRICS_FILE)}, loss curve: ${resolve(out, LOSS_CURVE_FILE)}\n`,
        );
      }),
    );
}

/** Self-critical fine-tuning's usual step size (Rennie et al.; Luo 2020): far below cross-entropy's. */
const SCST_LEARNING_RATE = 5e-5;

/** Flags that would change the model's shape or its cross-entropy regularisation. */
const SHAPE_FLAGS = [
  'embedDim',
  'units',
  'dropout',
  'attentionDim',
  'attentionPenalty',
  'labelSmoothing',
] as const;

/** The model a self-critical run starts from, refused early when it cannot be fine-tuned. */
async function fineTuningStart(flags: TrainFlags, command: Command): Promise<LoadedModel> {
  if (!flags.from)
    throw new CaptionerError('USAGE', '--scst needs --from <modeldir>: the model to fine-tune');
  for (const k of SHAPE_FLAGS)
    if (flags[k] !== undefined)
      throw new CaptionerError('USAGE', `--scst fine-tunes the --from model as it is: drop --${kebab(k)}`);
  if (command.getOptionValueSource('arch') === 'cli')
    throw new CaptionerError('USAGE', '--scst takes the architecture from the --from model: drop --arch');
  const start = await loadModel(resolve(flags.from));
  if (start.members)
    throw new CaptionerError(
      'USAGE',
      `${flags.from} is an ensemble: fine-tune each member on its own, then \`captioner ensemble\` them`,
    );
  return start;
}

/** The work folder must be the one the model was trained on: same vocabulary, same features. */
function checkSameData(start: LoadedModel, data: WorkData): void {
  const other = incompatibility(start, { vocabulary: data.vocabulary, config: { encoder: data.encoder } });
  const why = other
    ? `it has ${other} than the work folder`
    : start.config.model.featureDim !== data.featureDim
      ? `it reads ${start.config.model.featureDim}-d features, the work folder holds ${data.featureDim}-d`
      : undefined;
  if (why)
    throw new CaptionerError(
      'USAGE',
      `cannot fine-tune ${start.dir} on this work folder: ${why} (use the work folder it was trained from)`,
    );
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}
