import type { Command } from 'commander';
import { relative } from 'node:path';
import { loadCaptioner } from '../../pipeline/load-captioner.js';
import type { CaptionResult } from '../../pipeline/captioner-types.js';
import { isCaptionerError } from '../../util/errors.js';
import { createProgress } from '../../util/progress.js';
import { expandImagePaths } from '../list-images.js';
import { nonNegativeInt, positiveInt, runCommand } from '../run-command.js';

interface CaptionFlags {
  beam: number;
  alternatives?: number;
  json?: boolean;
  jsonl?: boolean;
  model?: string;
  encoder?: string;
  blockTrigrams: boolean;
  badEndings: boolean;
}

type Outcome = { file: string } & (CaptionResult | { error: { code: string; message: string } });

const CHUNK = 16;

export function registerCaption(program: Command): void {
  program
    .command('caption')
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
    .action(
      runCommand(async (paths: string[], flags: CaptionFlags) => {
        const files = await expandImagePaths(paths);
        if (files.length === 0) {
          process.stderr.write('captioner: no images found\n');
          return 1;
        }
        const captioner = await loadCaptioner({ model: flags.model, encoder: flags.encoder });
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
            });
            results.forEach((r, i) => {
              const file = displayPath(chunk[i]);
              const outcome: Outcome = 'error' in r ? { file, error: errorJson(r.error) } : { file, ...r };
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
        if (flags.json) process.stdout.write(JSON.stringify(all, null, 2) + '\n');
        if (failed > 0) process.stderr.write(`captioner: ${failed} of ${files.length} images failed\n`);
        return failed > 0 ? 1 : 0;
      }),
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
