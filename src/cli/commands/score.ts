import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { Split } from '../../data/splits.js';
import {
  leaveOneOut,
  loadReferences,
  matchCaptionedImages,
  readCaptionsJson,
} from '../../eval/references.js';
import { formatScores, scoreCaptions } from '../../eval/score.js';
import { CaptionerError } from '../../util/errors.js';
import { positiveInt, runCommand, splitArg } from '../run-command.js';

interface ScoreFlags {
  captions?: string;
  data?: string;
  work?: string;
  split: Split;
  human?: number;
  json?: boolean;
}

export function registerScore(program: Command): void {
  program
    .command('score')
    .description(
      'score a captions file against the reference captions (BLEU, ROUGE-L, CIDEr-D, as coco-caption)',
    )
    .option('--captions <file>', 'JSON array of {"image": "<name>.jpg", "caption": "..."}')
    .option('--data <dir>', 'data folder to read the references from (any layout prepare reads)')
    .option('--work <workdir>', 'or: work folder of `captioner prepare` (corpus.json)')
    .requiredOption('--split <split>', 'dev or test', splitArg)
    .option(
      '--human <k>',
      'instead of --captions: score reference k (1-5) against the others',
      positiveInt('--human'),
    )
    .option('--json', 'print one JSON object instead of a table')
    .action(
      runCommand(async (flags: ScoreFlags) => {
        if (!flags.data === !flags.work)
          throw new CaptionerError('USAGE', 'give exactly one of --data or --work');
        if (!flags.captions === (flags.human === undefined))
          throw new CaptionerError('USAGE', 'give exactly one of --captions or --human');
        const allReferences = await loadReferences(
          { dataDir: flags.data && resolve(flags.data), workDir: flags.work && resolve(flags.work) },
          flags.split,
        );
        let candidates: Map<string, string>;
        let references: Map<string, readonly string[]> = allReferences;
        let title: string;
        if (flags.human !== undefined) {
          ({ candidates, references } = leaveOneOut(allReferences, flags.human - 1));
          title = `${flags.split}: reference ${flags.human} scored against the other references`;
        } else {
          const path = resolve(flags.captions!);
          candidates = matchCaptionedImages(await readCaptionsJson(path), allReferences.keys());
          const foreign = [...candidates.keys()].filter((image) => !allReferences.has(image));
          if (foreign.length > 0) {
            throw new CaptionerError(
              'EVAL_UNKNOWN_IMAGE',
              `${foreign.length} captioned images are not in the ${flags.split} split (e.g. ${foreign.slice(0, 3).join(', ')})`,
            );
          }
          const missing = allReferences.size - candidates.size;
          if (missing > 0) {
            process.stderr.write(
              `captioner: warning: ${missing} of ${allReferences.size} ${flags.split} images have no caption; scoring the other ${candidates.size}\n`,
            );
          }
          title = `${path} against the ${flags.split} references`;
        }
        const scores = scoreCaptions(candidates, references);
        process.stdout.write(
          flags.json ? JSON.stringify({ split: flags.split, ...scores }) + '\n' : formatScores(scores, title),
        );
      }),
    );
}
