import type { Command } from 'commander';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { attentionPicture } from '../../pipeline/attention-picture.js';
import { loadCaptioner } from '../../pipeline/load-captioner.js';
import type { Captioner, CaptionResult } from '../../pipeline/captioner-types.js';
import { CaptionerError, isCaptionerError } from '../../util/errors.js';
import { createProgress } from '../../util/progress.js';
import { expandImagePaths } from '../list-images.js';
import {
  addConsensusOptions,
  consensusOption,
  INT8_PRODUCTS,
  NO_INT8_PRODUCTS,
  type ConsensusFlags,
  type IntegerProductsFlags,
} from '../decoder-options.js';
import { nonNegativeInt, positiveInt, runCommand } from '../run-command.js';

interface CaptionFlags extends IntegerProductsFlags, ConsensusFlags {
  beam: number;
  alternatives?: number;
  json?: boolean;
  jsonl?: boolean;
  model?: string;
  encoder?: string;
  blockTrigrams: boolean;
  badEndings: boolean;
  attention?: string;
}

type Outcome = { file: string } & (
  (CaptionResult & { picture?: string }) | { error: { code: string; message: string } }
);

const CHUNK = 16;

export function registerCaption(program: Command): void {
  addConsensusOptions(program.command('caption'))
    .description('caption photos: files, or folders walked for images')
    .argument('<paths...>', 'image files or folders')
    .option('--beam <k>', 'beam width (1 = greedy)', positiveInt('--beam'), 3)
    .option('--alternatives <n>', 'also print the n next-best captions', nonNegativeInt('--alternatives'))
    .option('--no-block-trigrams', 'allow a caption to repeat a word trigram (blocked by default)')
    .option('--no-bad-endings', 'allow a caption to end on a dangling word such as "a", "with", "in"')
    .option('--json', 'print one JSON array')
    .option('--jsonl', 'print one JSON object per image, as each is done')
    .option('--model <dir>', 'model folder (default: the bundled model)')
    .option('--encoder <name|path>', "encoder (default: the model's own)")
    .option(...INT8_PRODUCTS)
    .option(...NO_INT8_PRODUCTS)
    .option(
      '--attention <dir>',
      'attention models: write into <dir> one picture per photo of where the model looked for each word (<photo>.attention.png); --json/--jsonl gain the weights',
    )
    .action(
      runCommand(async (paths: string[], flags: CaptionFlags) => {
        const files = await expandImagePaths(paths);
        if (files.length === 0) {
          process.stderr.write('captioner: no images found\n');
          return 1;
        }
        const captioner = await loadCaptioner({
          model: flags.model,
          encoder: flags.encoder,
          integerProducts: flags.int8Products,
          consensus: consensusOption(flags),
        });
        const pictures = flags.attention ? await preparePictures(captioner, flags.attention) : undefined;
        const alternatives = Math.max(0, Math.min(flags.alternatives ?? 0, flags.beam - 1));
        const progress = createProgress({
          label: 'captioning',
          total: files.length,
          unit: 'images',
          enabled: files.length > 1,
        });
        const all: Outcome[] = [];
        let failed = 0;
        try {
          for (let start = 0; start < files.length; start += CHUNK) {
            const chunk = files.slice(start, start + CHUNK);
            const results = await captioner.captionMany(chunk, {
              beam: flags.beam,
              alternatives,
              blockTrigrams: flags.blockTrigrams !== false,
              badEndings: flags.badEndings !== false,
              attention: pictures !== undefined,
            });
            // The pictures first, so that a photo whose picture fails is reported with its error.
            const drawn = pictures ? await drawAll(pictures, chunk, results) : [];
            results.forEach((r, i) => {
              const file = displayPath(chunk[i]);
              const picture = drawn[i];
              const outcome: Outcome =
                'error' in r
                  ? { file, error: errorJson(r.error) }
                  : picture instanceof Error
                    ? { file, error: errorJson(picture) }
                    : { file, ...r, ...(picture ? { picture: displayPath(picture) } : {}) };
              if ('error' in outcome) {
                failed++;
                // Decoding errors already name the file.
                const message = outcome.error.message;
                if (!flags.json && !flags.jsonl)
                  process.stderr.write(
                    `captioner: ${message.includes(chunk[i]) ? message : `${file}: ${message}`}\n`,
                  );
              }
              if (flags.jsonl) process.stdout.write(JSON.stringify(outcome) + '\n');
              else if (flags.json) all.push(outcome);
              else if (!('error' in outcome)) process.stdout.write(formatText(outcome, alternatives));
            });
            progress.tick(chunk.length);
          }
        } finally {
          progress.stop();
          await captioner.dispose();
        }
        if (flags.json) process.stdout.write(compactNumbers(JSON.stringify(all, null, 2)) + '\n');
        if (pictures && !flags.json && !flags.jsonl && failed < files.length)
          process.stderr.write(`captioner: attention pictures in ${displayPath(pictures.dir)}\n`);
        if (failed > 0) process.stderr.write(`captioner: ${failed} of ${files.length} images failed\n`);
        return failed > 0 ? 1 : 0;
      }),
    );
}

interface Pictures {
  dir: string;
  /** Picture names given so far: two photos of one name (in different folders) get two pictures. */
  used: Set<string>;
}

/** Refuses --attention for a model without attention (before any work), and makes the folder. */
async function preparePictures(captioner: Captioner, dir: string): Promise<Pictures> {
  if (!captioner.card.attention) {
    await captioner.dispose();
    throw new CaptionerError(
      'NO_ATTENTION',
      `--attention needs an attention model: ${captioner.card.name} (architecture ${captioner.card.architecture}) does not say where it looked (train one with captioner train --arch attention)`,
    );
  }
  await mkdir(dir, { recursive: true });
  return { dir, used: new Set() };
}

/** Each captioned photo's picture, one after another: its path, or the error that stopped it. */
async function drawAll(
  pictures: Pictures,
  files: string[],
  results: (CaptionResult | { error: Error })[],
): Promise<(string | Error | undefined)[]> {
  const drawn: (string | Error | undefined)[] = [];
  for (const [i, r] of results.entries()) {
    if ('error' in r || !r.attention || !r.attentionGrid) {
      drawn.push(undefined);
      continue;
    }
    const path = join(pictures.dir, pictureName(files[i], pictures.used));
    try {
      await writeFile(path, await attentionPicture(files[i], r.caption, r.attention, r.attentionGrid));
      drawn.push(path);
    } catch (error) {
      drawn.push(
        isCaptionerError(error)
          ? error
          : new CaptionerError('PICTURE_FAILED', `cannot write ${path}: ${(error as Error).message}`),
      );
    }
  }
  return drawn;
}

/** dog.jpg → dog.attention.png (never the photo's own name), dog-2.attention.png for a second dog.jpg. */
export function pictureName(file: string, used: Set<string>): string {
  const stem = basename(file, extname(file));
  let name = `${stem}.attention.png`;
  for (let n = 2; used.has(name); n++) name = `${stem}-${n}.attention.png`;
  used.add(name);
  return name;
}

/** Indented JSON with arrays of numbers (the attention weights) on one line each. */
function compactNumbers(json: string): string {
  return json.replace(
    /\[\s*(-?\d[-+\d.e]*(?:,\s*-?\d[-+\d.e]*)*)\s*\]/g,
    (_, body: string) => `[${body.split(/,\s*/).join(', ')}]`,
  );
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel;
}

function errorJson(error: Error): { code: string; message: string } {
  return { code: isCaptionerError(error) ? error.code : 'INTERNAL', message: error.message };
}

function formatText(r: { file: string } & CaptionResult, alternatives: number): string {
  let text = `${r.file}: ${r.caption}\n`;
  for (const alt of r.alternatives.slice(1, 1 + alternatives))
    text += `  (${alt.score.toFixed(3)}) ${alt.text}\n`;
  return text;
}
