import type { Command } from 'commander';
import { Option } from 'commander';
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { prepareCorpus, saveCorpus, type CorpusSplitMethod, type CorpusStats } from '../../data/corpus.js';
import { DEFAULT_CLEANING } from '../../data/clean.js';
import { parseSplitRatio, parseSplitSizes, type SplitRatio, type SplitSizes } from '../../data/hash-split.js';
import type { RestvalChoice } from '../../data/layouts/karpathy-json.js';
import { SPLITS } from '../../data/splits.js';
import { CaptionerError, isCaptionerError } from '../../util/errors.js';
import { positiveInt, runCommand } from '../run-command.js';

interface PrepareFlags {
  data?: string;
  out: string;
  minCount: number;
  captions?: string[];
  images?: string | false;
  splitRatio?: SplitRatio;
  splitSizes?: SplitSizes;
  restval: RestvalChoice;
  imageColumn?: string;
  captionColumn?: string[];
  punctuation: 'split' | 'remove';
  keepDigits?: boolean;
  minWordLength: number;
  json?: boolean;
}

export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description(
      'read and clean the captions (Flickr8k, Karpathy JSON, COCO JSON, your own CSV/TSV/JSONL), split them, build the vocabulary, write the corpus',
    )
    .option(
      '--data <dir>',
      "data folder: its caption file (Flickr8k.token.txt, captions.txt, dataset_*.json, captions_*.json, or one .csv/.tsv/.jsonl), split files and Images/ are found in it (default: the caption file's folder)",
    )
    .requiredOption('--out <workdir>', 'work folder to write corpus.json and vocab.json into')
    .option('--min-count <n>', 'keep words seen at least this often in train', positiveInt('--min-count'), 5)
    .option(
      '--captions <file>',
      'caption file, in any format prepare reads; repeat it for one COCO file per split',
      collect,
    )
    .option(
      '--images <dir>',
      'photo folder, nested or not, to skip captions of missing photos (default: Images/ in --data, else --data itself)',
    )
    .option('--no-images', 'do not check that photos exist')
    .option(
      '--split-ratio <train,dev,test>',
      'split by a hash of each image file name with these shares (default where the data has no split: 0.8,0.1,0.1)',
      usage(parseSplitRatio),
    )
    .option(
      '--split-sizes <train,dev,test>',
      'split by a hash of each image file name into these image counts (train may be "rest")',
      usage(parseSplitSizes),
    )
    .addOption(
      new Option('--restval <where>', "Karpathy's restval images: join train, dev, or skip them")
        .choices(['train', 'dev', 'skip'])
        .default('train'),
    )
    .option('--image-column <name>', 'your table: the column naming the photo (a header name or a number)')
    .option('--caption-column <name>', 'your table: a column of captions (repeat it for several)', collect)
    .addOption(
      new Option('--punctuation <mode>', 'split: break words at punctuation; remove: join them (tutorials)')
        .choices(['split', 'remove'])
        .default('split'),
    )
    .option('--keep-digits', 'keep words with digits (the tutorials drop them)')
    .option('--min-word-length <n>', 'drop shorter words (1 keeps "a")', positiveInt('--min-word-length'), 1)
    .option('--json', 'print one JSON object with the stats instead of a table')
    .action(
      runCommand(async (flags: PrepareFlags) => {
        const captions = flags.captions ?? [];
        if (!flags.data && captions.length === 0)
          throw new CaptionerError(
            'USAGE',
            'give the data folder (--data) or the caption files (--captions)',
          );
        if (flags.splitRatio && flags.splitSizes)
          throw new CaptionerError('USAGE', 'give --split-ratio or --split-sizes, not both');
        const prepared = await prepareCorpus({
          dataDir: flags.data && resolve(flags.data),
          captionFiles: captions.map((c) => resolve(c)),
          imagesDir: flags.images === false ? null : flags.images && resolve(flags.images),
          splitRatio: flags.splitRatio,
          splitSizes: flags.splitSizes,
          restval: flags.restval,
          imageColumn: flags.imageColumn,
          captionColumns: flags.captionColumn,
          minCount: flags.minCount,
          cleaning: {
            ...DEFAULT_CLEANING,
            punctuation: flags.punctuation,
            dropDigits: !flags.keepDigits,
            minWordLength: flags.minWordLength,
          },
        });
        const out = resolve(flags.out);
        await saveCorpus(out, prepared);
        process.stdout.write(
          flags.json
            ? JSON.stringify(prepared.stats) + '\n'
            : formatStats(prepared.stats, out, prepared.corpus.split),
        );
        for (const split of SPLITS.filter((s) => prepared.stats.images[s] === 0)) {
          process.stderr.write(
            `captioner: warning: the ${split} split is empty (${split === 'train' ? 'nothing to train on' : split === 'dev' ? 'training picks its best epoch on dev' : 'nothing to report scores on'}); --split-ratio or --split-sizes make one from a hash of the image names\n`,
          );
        }
      }),
    );
}

/** A repeatable option's values. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A commander argument parser from one that throws a CaptionerError. */
function usage<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (isCaptionerError(error)) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

export function formatStats(stats: CorpusStats, out: string, split?: CorpusSplitMethod): string {
  const lines = [`corpus (${stats.format}) written to ${out}`, ''];
  if (split) lines.push(`split: ${split.description}`, '');
  lines.push('         images  captions');
  for (const s of SPLITS) {
    lines.push(
      `  ${s.padEnd(5)} ${String(stats.images[s]).padStart(8)} ${String(stats.captions[s]).padStart(9)}`,
    );
  }
  lines.push(
    '',
    `vocabulary: ${stats.vocabWords} words + ${stats.specials} specials (seen ≥ ${stats.minCount} times in train); ${(stats.trainUnknownRate * 100).toFixed(2)}% of train words are <unk>`,
    `caption length: longest ${stats.maxLength} words, 95th percentile ${stats.p95Length}`,
    `captioned images in no split (unused): ${stats.unusedImages}`,
    `skipped: ${stats.skipped.length}`,
  );
  for (const s of stats.skipped.slice(0, 50))
    lines.push(`  ${s.file}${s.line ? `:${s.line}` : ''}: ${s.reason}`);
  if (stats.skipped.length > 50)
    lines.push(`  … and ${stats.skipped.length - 50} more (see prepare-report.json)`);
  return lines.join('\n') + '\n';
}
