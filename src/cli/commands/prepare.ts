import type { Command } from 'commander';
import { Option } from 'commander';
import { resolve } from 'node:path';
import { prepareCorpus, saveCorpus, type CorpusStats } from '../../data/corpus.js';
import { DEFAULT_CLEANING } from '../../data/clean.js';
import { SPLITS } from '../../data/splits.js';
import { positiveInt, runCommand } from '../run-command.js';

interface PrepareFlags {
  data: string;
  out: string;
  minCount: number;
  captions?: string;
  images?: string | false;
  punctuation: 'split' | 'remove';
  keepDigits?: boolean;
  minWordLength: number;
  json?: boolean;
}

export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description('read and clean the Flickr8k captions, build the vocabulary, write the corpus')
    .requiredOption('--data <dir>', 'Flickr8k folder (caption file, split files, Images/)')
    .requiredOption('--out <workdir>', 'work folder to write corpus.json and vocab.json into')
    .option('--min-count <n>', 'keep words seen at least this often in train', positiveInt('--min-count'), 5)
    .option('--captions <file>', 'caption file (default: Flickr8k.token.txt or captions.txt in --data)')
    .option('--images <dir>', 'photo folder, to skip captions of missing photos (default: Images/ in --data)')
    .option('--no-images', 'do not check that photos exist')
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
        const prepared = await prepareCorpus({
          dataDir: resolve(flags.data),
          captionFile: flags.captions && resolve(flags.captions),
          imagesDir: flags.images === false ? null : flags.images && resolve(flags.images),
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
          flags.json ? JSON.stringify(prepared.stats) + '\n' : formatStats(prepared.stats, out),
        );
      }),
    );
}

export function formatStats(stats: CorpusStats, out: string): string {
  const lines = [`corpus (${stats.format}) written to ${out}`, '', '         images  captions'];
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
  for (const s of stats.skipped.slice(0, 50)) lines.push(`  ${s.file}:${s.line}: ${s.reason}`);
  if (stats.skipped.length > 50)
    lines.push(`  … and ${stats.skipped.length - 50} more (see prepare-report.json)`);
  return lines.join('\n') + '\n';
}
