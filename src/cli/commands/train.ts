import type { Command } from 'commander';
import { Option } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { METRICS, type Metric } from '../../eval/score.js';
import { architectureNames, getArchitecture } from '../../model/architectures.js';
import { captionDevMetric } from '../../pipeline/dev-metric.js';
import { loadTrainingData } from '../../train/training-data.js';
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
  maxSteps?: number;
  selectBy: 'loss' | Metric;
  progress: boolean;
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
        '--select-by <what>',
        'keep the epoch with the best dev loss, or the best dev caption score (greedy)',
      )
        .choices(['loss', ...METRICS])
        .default('ciderD'),
    )
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--no-progress', 'no progress bar')
    .action(
      runCommand(async (flags: TrainFlags) => {
        const arch = getArchitecture(flags.arch);
        const spatial = inputShape(arch, arch.defaults(1, 1)).length > 1; // reads the spatial map
        const data = await loadTrainingData(resolve(flags.work), flags.encoder, { spatial });
        const devMetric =
          flags.selectBy === 'loss'
            ? undefined
            : captionDevMetric(data.devImages, data.features, data.vocabulary, {
                metric: flags.selectBy,
                maxLength: data.maxCaptionLength,
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
        process.stderr.write(
          `training ${flags.arch} on ${data.train.length} captions (${data.vocabulary.size} ids, ${data.featureDim}-d ${data.encoder?.name ?? ''} features${data.regions ? ` over ${data.regions} regions` : ''}), ${flags.threads} thread(s)\n`,
        );
        const result = await trainModel(data, {
          outDir: out,
          arch: flags.arch,
          model,
          epochs: flags.epochs,
          batchSize: flags.batch,
          learningRate: flags.lr,
          seed: flags.seed,
          clipNorm: flags.clip,
          schedule: flags.schedule,
          patience: flags.patience,
          threads: flags.threads,
          resume: flags.resume ?? false,
          weightsDtype: flags.float16 ? 'F16' : 'F32',
          maxStepsPerEpoch: flags.maxSteps,
          keepEpochs: flags.keepEpochs,
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
