import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { Split } from '../../data/splits.js';
import {
  leaveOneOut,
  loadReferences,
  matchCaptionedImages,
  readCaptionsJson,
} from '../../eval/references.js';
import {
  BOOTSTRAP_METRICS,
  bootstrapScores,
  imageStats,
  pairedBootstrap,
  type BootstrapOptions,
} from '../../eval/bootstrap.js';
import { formatScores, scoreCaptions, tokenizeForScoring } from '../../eval/score.js';
import { CaptionerError } from '../../util/errors.js';
import { positiveInt, runCommand, splitArg } from '../run-command.js';

interface ScoreFlags {
  captions?: string;
  data?: string;
  work?: string;
  split: Split;
  human?: number;
  json?: boolean;
  intervals?: boolean;
  baseline?: string;
  draws: number;
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
    .option(
      '--intervals',
      "with --captions: how far BLEU-4 and CIDEr-D would move with other photos (95% of bootstrap draws of the split's photos)",
    )
    .option(
      '--baseline <file>',
      'with --captions: another captions file of the same photos, compared on the same draws (a paired bootstrap): is the difference more than the photos?',
    )
    .option('--draws <n>', 'bootstrap draws (default 1000)', positiveInt('--draws'), 1000)
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
        if ((flags.intervals || flags.baseline) && flags.human !== undefined)
          throw new CaptionerError('USAGE', '--intervals and --baseline go with --captions');
        if (flags.draws < 10) throw new CaptionerError('USAGE', '--draws: at least 10');
        const scores = scoreCaptions(candidates, references);
        const bootstrap = flags.baseline
          ? await compareWithBaseline(candidates, references, resolve(flags.baseline), {
              draws: flags.draws,
            })
          : flags.intervals
            ? intervalsOf(candidates, references, { draws: flags.draws })
            : undefined;
        process.stdout.write(
          flags.json
            ? JSON.stringify({
                split: flags.split,
                ...scores,
                ...(bootstrap && { bootstrap: bootstrap.json }),
              }) + '\n'
            : formatScores(scores, title) + (bootstrap ? '\n' + bootstrap.text : ''),
        );
      }),
    );
}

const LABEL = { bleu4: 'BLEU-4', ciderD: 'CIDEr-D' } as const;
const x100 = (v: number) => (v * 100).toFixed(1);
const signed = (v: number) => (v >= 0 ? '+' : '−') + Math.abs(v * 100).toFixed(1);

/** Bootstrap intervals of one captions file's BLEU-4 and CIDEr-D. */
function intervalsOf(
  candidates: ReadonlyMap<string, string>,
  references: ReadonlyMap<string, readonly string[]>,
  options: BootstrapOptions,
) {
  const tokens = tokenizeForScoring(candidates, references);
  const spread = bootstrapScores(imageStats(tokens.candidates, tokens.references), options);
  const lines = [
    `how far the scores move with other photos (95% of ${options.draws} draws of these ${tokens.images.length}):`,
  ];
  for (const m of BOOTSTRAP_METRICS)
    lines.push(
      `  ${LABEL[m].padEnd(8)} ${x100(spread[m].score).padStart(6)}   ${x100(spread[m].interval.low)} – ${x100(spread[m].interval.high)}`,
    );
  return { text: lines.join('\n') + '\n', json: { draws: options.draws, level: 0.95, ...spread } };
}

/** A paired bootstrap of the captions against a baseline file's captions of the same photos. */
async function compareWithBaseline(
  candidates: ReadonlyMap<string, string>,
  references: ReadonlyMap<string, readonly string[]>,
  path: string,
  options: BootstrapOptions,
) {
  const baseline = matchCaptionedImages(await readCaptionsJson(path), references.keys());
  const shared = [...candidates.keys()].filter((image) => baseline.has(image));
  if (shared.length === 0)
    throw new CaptionerError('EVAL_EMPTY', `${path} captions none of the photos the captions file does`);
  const left = candidates.size + baseline.size - 2 * shared.length;
  if (left > 0)
    process.stderr.write(
      `captioner: warning: ${left} photos are captioned in only one of the two files; comparing the ${shared.length} in both\n`,
    );
  const pick = (m: ReadonlyMap<string, string>) => new Map(shared.map((image) => [image, m.get(image)!]));
  const stats = (m: ReadonlyMap<string, string>) => {
    const t = tokenizeForScoring(pick(m), references);
    return imageStats(t.candidates, t.references);
  };
  const paired = pairedBootstrap(stats(candidates), stats(baseline), options);
  const lines = [
    `against the baseline ${path} (the same ${shared.length} photos; 95% of ${options.draws} paired draws):`,
  ];
  for (const m of BOOTSTRAP_METRICS) {
    const p = paired[m];
    lines.push(
      `  ${LABEL[m].padEnd(8)} ${signed(p.difference.score).padStart(6)}  (${x100(p.baseline.score)} → ${x100(p.candidate.score)})` +
        `   difference ${signed(p.difference.interval.low)} to ${signed(p.difference.interval.high)},` +
        ` higher in ${Math.round(p.better * 100)}% of the draws`,
    );
  }
  const sure = BOOTSTRAP_METRICS.filter(
    (m) => paired[m].difference.interval.low > 0 || paired[m].difference.interval.high < 0,
  );
  lines.push(
    sure.length === 0
      ? '  neither difference is more than the choice of photos would make'
      : `  beyond what the choice of photos would make: ${sure.map((m) => LABEL[m]).join(', ')}`,
  );
  return {
    text: lines.join('\n') + '\n',
    json: { draws: options.draws, level: 0.95, photos: shared.length, baseline: path, ...paired },
  };
}
