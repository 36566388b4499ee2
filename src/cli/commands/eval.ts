import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findImagesDir, loadCorpus } from '../../data/corpus.js';
import type { Split } from '../../data/splits.js';
import { renderReport } from '../../eval/report.js';
import { makeThumbnails } from '../../eval/report-thumbnails.js';
import { formatScores } from '../../eval/score.js';
import { evaluateSplit, type Evaluation } from '../../pipeline/evaluate-split.js';
import { SCORES_FILE } from '../../pipeline/model-card.js';
import { writeFileAtomic, writeJsonAtomic } from '../../util/atomic-write.js';
import { CaptionerError } from '../../util/errors.js';
import {
  addConsensusOptions,
  consensusOption,
  INT8_PRODUCTS,
  NO_INT8_PRODUCTS,
  type ConsensusFlags,
  type IntegerProductsFlags,
} from '../decoder-options.js';
import { nonNegative, positiveInt, runCommand, splitArg } from '../run-command.js';

interface EvalFlags extends IntegerProductsFlags, ConsensusFlags {
  model: string;
  data?: string;
  work?: string;
  split: Split;
  beam: number;
  lengthPenalty?: number;
  blockTrigrams?: boolean;
  badEndings?: boolean;
  out?: string;
  report?: string;
  record?: boolean;
  json?: boolean;
  encoder?: string;
}

export function registerEval(program: Command): void {
  addConsensusOptions(program.command('eval'))
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
    .option('--no-block-trigrams', 'allow a caption to repeat a word trigram (blocked by default)')
    // On by default now; still accepted so that older scripts run.
    .addOption(new Option('--block-trigrams').hideHelp())
    .option('--no-bad-endings', 'allow a caption to end on a dangling word such as "a", "with", "in"')
    .option('--encoder <name|path>', "encoder (default: the model's own)")
    .option(...INT8_PRODUCTS)
    .option(...NO_INT8_PRODUCTS)
    .option('--out <file>', 'write the captions as [{"image", "caption"}] JSON')
    .option(
      '--report <file>',
      'write one self-contained HTML page: scores, every photo with its caption, references and CIDEr-D',
    )
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
          integerProducts: flags.int8Products,
          consensus: consensusOption(flags),
          decode: {
            beam: flags.beam,
            lengthPenalty: flags.lengthPenalty,
            blockTrigrams: flags.blockTrigrams !== false,
            badEndings: flags.badEndings !== false,
          },
          progress: !flags.json,
        });
        if (flags.out) await writeJsonAtomic(resolve(flags.out), result.captions);
        if (flags.report) await writeReport(resolve(flags.report), flags, model, result);
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
              ...recordedDecoding(result.decoding),
            },
          });
        }
        const summary = {
          split: flags.split,
          ...result.decoding,
          ...result.scores,
          failed: result.failed.length,
          seconds: +result.seconds.toFixed(1),
        };
        process.stdout.write(
          flags.json
            ? JSON.stringify(summary) + '\n'
            : formatScores(
                result.scores,
                `${model} on ${flags.split} (${describeDecoding(result.decoding)})`,
              ) +
                `captioned ${result.captions.length} images in ${result.seconds.toFixed(1)} s; ${result.failed.length} failed\n`,
        );
        return result.failed.length > 0 ? 1 : 0;
      }),
    );
}

/** "beam 3, length penalty 0.7, at most 20 words, trigram blocking, no dangling end" (what was on). */
export function describeDecoding(d: Evaluation['decoding']): string {
  return [
    `beam ${d.beam}`,
    `length penalty ${d.lengthPenalty}`,
    `at most ${d.maxLength} words`,
    d.blockTrigrams ? 'trigram blocking' : 'no trigram blocking',
    d.badEndings ? 'no dangling end' : 'dangling ends allowed',
    ...(d.consensus
      ? [
          `consensus reranking (k ${d.consensus.k}, weight ${d.consensus.weight}${d.consensus.bleuWeight ? `, BLEU weight ${d.consensus.bleuWeight}` : ''})`,
        ]
      : []),
  ].join(', ');
}

/** The HTML report, with thumbnails when the photos can be found (--data, or the work folder's source). */
async function writeReport(path: string, flags: EvalFlags, model: string, result: Evaluation): Promise<void> {
  let imagesDir: string | undefined;
  if (flags.data) imagesDir = await findImagesDir(resolve(flags.data));
  else if (flags.work) {
    const recorded = (await loadCorpus(resolve(flags.work))).corpus.source.imagesDir;
    if (recorded && existsSync(recorded)) imagesDir = recorded;
  }
  if (!imagesDir) process.stderr.write('captioner: report: photos not found, so no thumbnails\n');
  const thumbnails = imagesDir
    ? await makeThumbnails(
        imagesDir,
        result.captions.map((c) => c.image),
      )
    : new Map<string, string>();
  const html = renderReport({
    model,
    split: flags.split,
    decoding: result.decoding,
    decodingText: describeDecoding(result.decoding),
    scores: result.scores,
    captions: result.captions,
    references: result.references,
    failed: result.failed,
    thumbnails,
  });
  await writeFileAtomic(path, html);
  const { size } = await stat(path);
  process.stderr.write(`captioner: report written to ${path} (${(size / 1e6).toFixed(1)} MB)\n`);
}

/**
 * The decoding settings as numbers: the rules as 1 (on) or 0 (off); integer products 1 (all), 0 (none),
 * or the weights whose products ran in integers, comma-separated.
 */
function recordedDecoding(d: Evaluation['decoding']): Record<string, number | string> {
  return {
    beam: d.beam,
    lengthPenalty: d.lengthPenalty,
    maxLength: d.maxLength,
    blockTrigrams: d.blockTrigrams ? 1 : 0,
    badEndings: d.badEndings ? 1 : 0,
    integerProducts: Array.isArray(d.integerProducts)
      ? d.integerProducts.join(',')
      : d.integerProducts
        ? 1
        : 0,
    ...(d.consensus
      ? {
          consensusK: d.consensus.k,
          consensusWeight: d.consensus.weight,
          consensusBleuWeight: d.consensus.bleuWeight ?? 0,
        }
      : {}),
  };
}
