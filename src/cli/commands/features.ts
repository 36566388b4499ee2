import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CORPUS_FILE, loadCorpus } from '../../data/corpus.js';
import { SPLITS } from '../../data/splits.js';
import { CaptionerError } from '../../util/errors.js';
import {
  computeFeatures,
  findImagesDir,
  listImages,
  type ComputeFeaturesSummary,
} from '../../vision/compute-features.js';
import { loadEncoder } from '../../vision/encoder.js';
import { positiveInt, runCommand } from '../run-command.js';

interface FeaturesFlags {
  data?: string;
  out: string;
  encoder?: string;
  spatial?: boolean;
  mirror?: boolean;
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
    .option(
      '--data <dir>',
      'dataset folder (its Images/ is used when present) or a folder of images (default: the photo folder of the corpus prepared in --out)',
    )
    .requiredOption('--out <workdir>', 'work folder; the store goes to <workdir>/features/<encoder>/')
    .option('--encoder <name|path>', 'registry name (mobilenetv2-int8, resnet50-v1-12-int8) or an .onnx file')
    .option(
      '--spatial',
      'also store the spatial maps before the pooling, as float16 (about 1 GB for Flickr8k)',
    )
    .option(
      '--mirror',
      'also store the features of each photo mirrored left to right (for `train --augment mirror`), in <encoder>.mirrored/',
    )
    .option('--batch <n>', 'images per inference run', positiveInt('--batch'), 32)
    .option('--threads <n>', 'inference threads (default: all cores)', positiveInt('--threads'))
    .option('--limit <n>', 'only the first n images (sorted by name)', positiveInt('--limit'))
    .option('--json', 'print one JSON object with the summary')
    .action(
      runCommand(async (flags: FeaturesFlags) => {
        const { imagesDir, images } = await imagesToEncode(flags.data, resolve(flags.out));
        const encoder = await loadEncoder(flags.encoder, { threads: flags.threads });
        try {
          // The photos, then (--mirror) each mirrored: the second pass resumes like the first.
          const summaries = [];
          for (const mirror of flags.mirror ? [false, true] : [false])
            summaries.push(
              await computeFeatures({
                imagesDir,
                images,
                workDir: resolve(flags.out),
                encoder,
                spatial: flags.spatial,
                batch: flags.batch,
                limit: flags.limit,
                progress: !flags.json,
                mirror,
              }),
            );
          process.stdout.write(
            flags.json
              ? JSON.stringify(
                  flags.mirror
                    ? { ...jsonSummary(summaries[0]), mirrored: jsonSummary(summaries[1]) }
                    : jsonSummary(summaries[0]),
                ) + '\n'
              : summaries.map((s, k) => formatSummary(s, imagesDir, k === 1)).join(''),
          );
        } finally {
          await encoder.dispose();
        }
      }),
    );
}

/**
 * The photo folder and, where its own files are not all, the photos to encode. With a corpus in the work
 * folder: its photo folder when --data is not given, and the corpus's photos in nested folders (Karpathy's
 * COCO, your own albums) besides the folder's files.
 */
async function imagesToEncode(
  data: string | undefined,
  workDir: string,
): Promise<{ imagesDir: string; images?: string[] }> {
  const hasCorpus = (await stat(join(workDir, CORPUS_FILE)).catch(() => undefined))?.isFile() ?? false;
  if (!hasCorpus && !data)
    throw new CaptionerError(
      'USAGE',
      `give the photos with --data <dir>, or run \`captioner prepare --out ${workDir}\` first`,
    );
  const corpus = hasCorpus ? (await loadCorpus(workDir)).corpus : undefined;
  const named = corpus ? SPLITS.flatMap((s) => corpus.splits[s].map((m) => m.image)) : [];
  if (!data) {
    if (!corpus?.source.imagesDir)
      throw new CaptionerError(
        'USAGE',
        `the corpus in ${workDir} was prepared without photos (--no-images): give them with --data <dir>`,
      );
    return { imagesDir: corpus.source.imagesDir, images: named };
  }
  const imagesDir = await findImagesDir(data);
  const nested = named.filter((image) => image.includes('/'));
  if (nested.length === 0) return { imagesDir };
  const found = await Promise.all(
    nested.map(async (image) =>
      (await stat(join(imagesDir, image)).catch(() => undefined))?.isFile() ? image : '',
    ),
  );
  return { imagesDir, images: [...new Set([...(await listImages(imagesDir)), ...found.filter((f) => f)])] };
}

function jsonSummary(s: ComputeFeaturesSummary) {
  const { manifest, ...rest } = s;
  return { ...rest, encoder: manifest.encoder, complete: manifest.complete };
}

export function formatSummary(s: ComputeFeaturesSummary, imagesDir: string, mirrored = false): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const lines = [
    `features (${s.manifest.encoder.name}, ${s.manifest.encoder.pooledDim}-d) of ${s.images} images${mirrored ? ', mirrored,' : ''} in ${imagesDir}`,
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
