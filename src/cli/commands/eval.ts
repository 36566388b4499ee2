import type { Command } from 'commander';
import { Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Split } from '../../data/splits.js';
import type { DecoderRuntime } from '../../model/open-decoder.js';
import { formatScores } from '../../eval/score.js';
import { evaluateSplit } from '../../pipeline/evaluate-split.js';
import { SCORES_FILE } from '../../pipeline/model-card.js';
import { writeJsonAtomic } from '../../util/atomic-write.js';
import { CaptionerError } from '../../util/errors.js';
import { nonNegative, positiveInt, runCommand, splitArg } from '../run-command.js';

interface EvalFlags {
  model: string;
  data?: string;
  work?: string;
  split: Split;
  beam: number;
  lengthPenalty?: number;
  blockTrigrams?: boolean;
  out?: string;
  record?: boolean;
  json?: boolean;
  encoder?: string;
  runtime: DecoderRuntime;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('caption every image of a split and score the captions (BLEU-1..4, ROUGE-L, CIDEr-D)')
    .requiredOption('--model <dir>', 'model folder')
    .option('--data <dir>', 'Flickr8k folder: caption the photos through the encoder')
    .option('--work <workdir>', 'or: caption from the stored features of `captioner features` (faster)')
    .requiredOption('--split <split>', 'dev or test', splitArg)
    .option('--beam <k>', 'beam width (1 = greedy)', positiveInt('--beam'), 3)
    .option(
      '--length-penalty <alpha>',
      "rank by logProb / length^alpha (default: the model's own)",
      nonNegative('--length-penalty'),
    )
    .option('--block-trigrams', 'never repeat a word trigram within a caption')
    .option('--encoder <name|path>', "encoder (default: the model's own)")
    .addOption(
      new Option('--runtime <name>', 'where the decoder runs: onnxruntime, or tfjs as in training')
        .choices(['onnx', 'tfjs'])
        .default('onnx'),
    )
    .option('--out <file>', 'write the captions as [{"image", "caption"}] JSON')
    .option('--record', `store the scores in the model folder's ${SCORES_FILE} (shown by the API)`)
    .option('--json', 'print one JSON object instead of a table')
    .action(
      runCommand(async (flags: EvalFlags) => {
        if (!flags.data === !flags.work)
          throw new CaptionerError('USAGE', 'give exactly one of --data or --work');
        const model = resolve(flags.model);
        const result = await evaluateSplit({
          model,
          split: flags.split,
          dataDir: flags.data && resolve(flags.data),
          workDir: flags.work && resolve(flags.work),
          encoder: flags.encoder,
          decode: {
            beam: flags.beam,
            lengthPenalty: flags.lengthPenalty,
            blockRepeatedTrigrams: flags.blockTrigrams,
          },
          decoderRuntime: flags.runtime,
          progress: !flags.json,
        });
        if (flags.out) await writeJsonAtomic(resolve(flags.out), result.captions);
        for (const f of result.failed) process.stderr.write(`captioner: ${f.image}: ${f.reason}\n`);
        if (flags.record) {
          const path = join(model, SCORES_FILE);
          const old = JSON.parse(await readFile(path, 'utf8').catch(() => '{}')) as Record<string, unknown>;
          const { distinct, images, ...metrics } = result.scores;
          await writeJsonAtomic(path, {
            ...old,
            [flags.split]: {
              ...metrics,
              distinct,
              images,
              beam: flags.beam,
              lengthPenalty: result.lengthPenalty,
            },
          });
        }
        const summary = {
          split: flags.split,
          beam: flags.beam,
          lengthPenalty: result.lengthPenalty,
          ...result.scores,
          failed: result.failed.length,
          seconds: +result.seconds.toFixed(1),
        };
        process.stdout.write(
          flags.json
            ? JSON.stringify(summary) + '\n'
            : formatScores(
                result.scores,
                `${model} on ${flags.split} (beam ${flags.beam}, length penalty ${result.lengthPenalty})`,
              ) +
                `captioned ${result.captions.length} images in ${result.seconds.toFixed(1)} s; ${result.failed.length} failed\n`,
        );
        return result.failed.length > 0 ? 1 : 0;
      }),
    );
}
