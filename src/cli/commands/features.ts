import type { Command } from 'commander';
import { resolve } from 'node:path';
import {
  computeFeatures,
  findImagesDir,
  type ComputeFeaturesSummary,
} from '../../vision/compute-features.js';
import { loadEncoder } from '../../vision/encoder.js';
import { positiveInt, runCommand } from '../run-command.js';

interface FeaturesFlags {
  data: string;
  out: string;
  encoder?: string;
  spatial?: boolean;
  batch: number;
  threads?: number;
  limit?: number;
  json?: boolean;
}

export function registerFeatures(program: Command): void {
  program
    .command('features')
    .description(
      'compute the encoder features of every image of a dataset into <workdir>/features/ (resumable)',
    )
    .requiredOption('--data <dir>', 'dataset folder (its Images/ is used when present) or a folder of images')
    .requiredOption('--out <workdir>', 'work folder; the store goes to <workdir>/features/<encoder>/')
    .option('--encoder <name|path>', 'registry name (mobilenetv2-int8, resnet50-v1-12-int8) or an .onnx file')
    .option(
      '--spatial',
      'also store the spatial maps before the pooling, as float16 (about 1 GB for Flickr8k)',
    )
    .option('--batch <n>', 'images per inference run', positiveInt('--batch'), 32)
    .option('--threads <n>', 'inference threads (default: all cores)', positiveInt('--threads'))
    .option('--limit <n>', 'only the first n images (sorted by name)', positiveInt('--limit'))
    .option('--json', 'print one JSON object with the summary')
    .action(
      runCommand(async (flags: FeaturesFlags) => {
        const imagesDir = await findImagesDir(flags.data);
        const encoder = await loadEncoder(flags.encoder, { threads: flags.threads });
        try {
          const summary = await computeFeatures({
            imagesDir,
            workDir: resolve(flags.out),
            encoder,
            spatial: flags.spatial,
            batch: flags.batch,
            limit: flags.limit,
            progress: !flags.json,
          });
          process.stdout.write(
            flags.json ? JSON.stringify(jsonSummary(summary)) + '\n' : formatSummary(summary, imagesDir),
          );
        } finally {
          await encoder.dispose();
        }
      }),
    );
}

function jsonSummary(s: ComputeFeaturesSummary) {
  const { manifest, ...rest } = s;
  return { ...rest, encoder: manifest.encoder, complete: manifest.complete };
}

export function formatSummary(s: ComputeFeaturesSummary, imagesDir: string): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const lines = [
    `features (${s.manifest.encoder.name}, ${s.manifest.encoder.pooledDim}-d) of ${s.images} images in ${imagesDir}`,
    `  computed ${s.computed}, already stored ${s.reused}, skipped ${s.skipped.length}`,
    `  ${s.seconds.toFixed(s.seconds < 10 ? 2 : 1)} s, ${s.imagesPerSecond.toFixed(1)} images/s`,
    `  store: ${s.storeDir} (pooled ${mb(s.bytes.pooled)}${s.bytes.spatial ? `, spatial ${mb(s.bytes.spatial)}` : ''})`,
  ];
  if (s.rebuilt) lines.push(`  rebuilt: the old store did not match (${s.rebuilt})`);
  if (s.skipped.length) {
    lines.push('unreadable images (skipped):');
    for (const k of s.skipped.slice(0, 50)) lines.push(`  ${k.image}: ${k.code}: ${k.reason}`);
    if (s.skipped.length > 50) lines.push(`  … and ${s.skipped.length - 50} more (see manifest.json)`);
  }
  return lines.join('\n') + '\n';
}
