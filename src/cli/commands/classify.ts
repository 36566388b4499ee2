import type { Command } from 'commander';
import { loadEncoder } from '../../vision/encoder.js';
import { loadImageNetLabels, topK } from '../../vision/labels.js';
import { positiveInt, runCommand } from '../run-command.js';

interface ClassifyFlags {
  encoder?: string;
  top: number;
  json?: boolean;
}

export function registerClassify(program: Command): void {
  program
    .command('classify')
    .description("print an image's most likely ImageNet classes: a quick check that the encoder works")
    .argument('<image...>', 'image files (JPEG, PNG, WebP, GIF, TIFF, AVIF)')
    .option('--encoder <name|path>', 'registry name or .onnx file (default mobilenetv2-int8)')
    .option('--top <k>', 'how many classes', positiveInt('--top'), 5)
    .option('--json', 'one JSON object per image')
    .action(
      runCommand(async (images: string[], flags: ClassifyFlags) => {
        const [encoder, labels] = await Promise.all([loadEncoder(flags.encoder), loadImageNetLabels()]);
        try {
          let failed = 0;
          for (const image of images) {
            // One at a time, so that one unreadable file does not hide the others' classes.
            let logits: Float32Array;
            try {
              logits = (await encoder.encode([image], { logits: true })).logits![0];
            } catch (error) {
              if (images.length === 1) throw error;
              process.stderr.write(`captioner: error: ${(error as Error).message}\n`);
              failed++;
              continue;
            }
            const top = topK(logits, labels, flags.top);
            if (flags.json) process.stdout.write(JSON.stringify({ image, top }) + '\n');
            else {
              if (images.length > 1) process.stdout.write(`${image}\n`);
              for (const p of top)
                process.stdout.write(`${(p.probability * 100).toFixed(1).padStart(6)}%  ${p.label}\n`);
            }
          }
          return failed ? 1 : 0;
        } finally {
          await encoder.dispose();
        }
      }),
    );
}
