import { access, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';
import { readCaptionFile, type CaptionFileFormat } from './caption-file.js';
import { cleanCaption, DEFAULT_CLEANING, type CleaningOptions } from './clean.js';
import type { DataIssue } from './issues.js';
import { readSplitFile, SPLITS, type Split } from './splits.js';
import { Vocabulary } from './vocabulary.js';

/** One image of a split: its raw captions (the references for scoring) and their cleaned token ids. */
export interface CorpusImage {
  image: string;
  references: string[];
  /** Word ids without start and end markers; the model adds those. */
  tokens: number[][];
}

export interface CorpusJson {
  version: 1;
  source: { captionFile: string; format: CaptionFileFormat; imagesDir: string | null };
  cleaning: CleaningOptions;
  splits: Record<Split, CorpusImage[]>;
}

export interface CorpusStats {
  images: Record<Split, number>;
  captions: Record<Split, number>;
  /** Every id, specials included. */
  vocabSize: number;
  vocabWords: number;
  specials: number;
  minCount: number;
  /** Longest cleaned caption (words), over all splits. */
  maxLength: number;
  p95Length: number;
  /** Share of train words that map to <unk>. */
  trainUnknownRate: number;
  /** Captioned images in no split (Flickr8k has 91): not an error, just unused. */
  unusedImages: number;
  format: CaptionFileFormat;
  skipped: DataIssue[];
}

export interface PrepareOptions {
  dataDir: string;
  captionFile?: string;
  /** Folder of photos; when known, captions of missing photos are skipped. Found in dataDir by default. */
  imagesDir?: string | null;
  minCount?: number;
  cleaning?: CleaningOptions;
}

export interface PreparedCorpus {
  corpus: CorpusJson;
  vocabulary: Vocabulary;
  stats: CorpusStats;
}

const CAPTION_FILES = ['Flickr8k.token.txt', 'captions.txt'];
const TEXT_SUBDIRS = ['', 'Flickr8k_text', 'text'];
export const IMAGE_SUBDIRS = ['Images', 'Flicker8k_Dataset', 'Flickr8k_Dataset', 'images'];
const IMAGE_NAME = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function findFirst(dir: string, subdirs: string[], names: string[]): Promise<string | undefined> {
  for (const sub of subdirs)
    for (const name of names) if (await exists(join(dir, sub, name))) return join(dir, sub, name);
  return undefined;
}

export async function findImagesDir(dataDir: string): Promise<string | undefined> {
  for (const sub of IMAGE_SUBDIRS) {
    const dir = join(dataDir, sub);
    if ((await stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  return undefined;
}

/** Reads, checks and cleans a Flickr8k folder into a corpus and a train-split vocabulary. */
export async function prepareCorpus(options: PrepareOptions): Promise<PreparedCorpus> {
  const { dataDir } = options;
  if (!(await stat(dataDir).catch(() => undefined))?.isDirectory()) {
    throw new CaptionerError('DATA_MISSING', `data folder not found: ${dataDir}`);
  }
  const captionPath = options.captionFile ?? (await findFirst(dataDir, TEXT_SUBDIRS, CAPTION_FILES));
  if (!captionPath) {
    throw new CaptionerError(
      'DATA_MISSING',
      `no caption file in ${dataDir} (looked for ${CAPTION_FILES.join(' or ')}, also under Flickr8k_text/)`,
    );
  }
  const splitPaths: Partial<Record<Split, string>> = {};
  for (const split of SPLITS) {
    const path = await findFirst(dataDir, TEXT_SUBDIRS, [`Flickr_8k.${split}Images.txt`]);
    if (!path) {
      throw new CaptionerError(
        'DATA_MISSING',
        `no split file Flickr_8k.${split}Images.txt in ${dataDir}: the official train/dev/test lists come with the original Flickr8k_text download`,
      );
    }
    splitPaths[split] = path;
  }
  const imagesDir = options.imagesDir === undefined ? await findImagesDir(dataDir) : options.imagesDir;
  const cleaning = options.cleaning ?? DEFAULT_CLEANING;
  const minCount = options.minCount ?? 5;

  const captionFile = await readCaptionFile(captionPath);
  const skipped: DataIssue[] = [...captionFile.issues];
  const captionName = basename(captionPath);

  // Group by image; judge each image once (bad name, missing photo), reported at its first caption.
  const byImage = new Map<string, { line: number; captions: { caption: string; line: number }[] }>();
  for (const e of captionFile.entries) {
    const group = byImage.get(e.image) ?? { line: e.line, captions: [] };
    group.captions.push({ caption: e.caption, line: e.line });
    byImage.set(e.image, group);
  }
  const files = imagesDir ? await listImageFiles(imagesDir) : undefined;
  for (const [image, group] of byImage) {
    const n = group.captions.length;
    let reason: string | undefined;
    if (!IMAGE_NAME.test(image))
      reason = `"${image}" is not an image file name; its ${n} captions are skipped`;
    else if (files && !files.has(image))
      reason = `no file ${image} in ${imagesDir}; its ${n} captions are skipped`;
    if (reason) {
      skipped.push({ file: captionName, line: group.line, reason });
      byImage.delete(image);
    }
  }

  const splitLists = await Promise.all(SPLITS.map((s) => readSplitFile(splitPaths[s]!, s)));
  const owner = new Map<string, Split>();
  const members: Record<Split, { image: string; captions: { caption: string; line: number }[] }[]> = {
    train: [],
    dev: [],
    test: [],
  };
  for (const list of splitLists) {
    skipped.push(...list.issues);
    const file = basename(list.path);
    for (const { image, line } of list.images) {
      const group = byImage.get(image);
      const other = owner.get(image);
      if (other) skipped.push({ file, line, reason: `${image} is already in the ${other} split` });
      else if (!group) skipped.push({ file, line, reason: `${image} has no captions` });
      else {
        owner.set(image, list.split);
        members[list.split].push({ image, captions: group.captions });
      }
    }
  }

  const cleaned = (split: Split) =>
    members[split].map(({ image, captions }) => ({
      image,
      captions: captions
        .map((c) => ({ ...c, words: cleanCaption(c.caption, cleaning) }))
        .filter((c) => {
          if (c.words.length > 0) return true;
          skipped.push({
            file: captionName,
            line: c.line,
            reason: `caption of ${image} has no words after cleaning`,
          });
          return false;
        }),
    }));
  const cleanSplits = { train: cleaned('train'), dev: cleaned('dev'), test: cleaned('test') };

  const vocabulary = Vocabulary.build(
    cleanSplits.train.flatMap((m) => m.captions.map((c) => c.words)),
    minCount,
  );
  const splits = {} as Record<Split, CorpusImage[]>;
  for (const split of SPLITS) {
    splits[split] = cleanSplits[split]
      .filter((m) => m.captions.length > 0)
      .map((m) => ({
        image: m.image,
        references: m.captions.map((c) => c.caption),
        tokens: m.captions.map((c) => vocabulary.encode(c.words)),
      }));
  }

  const lengths = SPLITS.flatMap((s) => splits[s].flatMap((m) => m.tokens.map((t) => t.length))).sort(
    (a, b) => a - b,
  );
  const trainTokens = splits.train.flatMap((m) => m.tokens.flat());
  const stats: CorpusStats = {
    images: countBy(splits, (m) => m.length),
    captions: countBy(splits, (m) => m.reduce((n, i) => n + i.tokens.length, 0)),
    vocabSize: vocabulary.size,
    vocabWords: vocabulary.wordCount,
    specials: vocabulary.size - vocabulary.wordCount,
    minCount,
    maxLength: lengths[lengths.length - 1] ?? 0,
    p95Length: lengths[Math.min(lengths.length - 1, Math.floor(lengths.length * 0.95))] ?? 0,
    trainUnknownRate: trainTokens.filter((t) => t === 3).length / Math.max(1, trainTokens.length),
    unusedImages: [...byImage.keys()].filter((i) => !owner.has(i)).length,
    format: captionFile.format,
    skipped,
  };
  const corpus: CorpusJson = {
    version: 1,
    source: { captionFile: captionPath, format: captionFile.format, imagesDir: imagesDir ?? null },
    cleaning,
    splits,
  };
  return { corpus, vocabulary, stats };
}

function countBy(
  splits: Record<Split, CorpusImage[]>,
  f: (m: CorpusImage[]) => number,
): Record<Split, number> {
  return { train: f(splits.train), dev: f(splits.dev), test: f(splits.test) };
}

async function listImageFiles(dir: string): Promise<Set<string>> {
  return new Set(await readdir(dir));
}

export const CORPUS_FILE = 'corpus.json';
export const VOCAB_FILE = 'vocab.json';
export const PREPARE_REPORT_FILE = 'prepare-report.json';

/** Writes corpus, vocabulary and report into the work folder, each atomically. */
export async function saveCorpus(workDir: string, prepared: PreparedCorpus): Promise<void> {
  await writeJsonAtomic(join(workDir, CORPUS_FILE), prepared.corpus);
  await prepared.vocabulary.save(join(workDir, VOCAB_FILE));
  await writeJsonAtomic(join(workDir, PREPARE_REPORT_FILE), prepared.stats);
}

/** Reads what `captioner prepare` wrote. */
export async function loadCorpus(workDir: string): Promise<{ corpus: CorpusJson; vocabulary: Vocabulary }> {
  const path = join(workDir, CORPUS_FILE);
  let corpus: CorpusJson;
  try {
    corpus = JSON.parse(await readFile(path, 'utf8')) as CorpusJson;
  } catch (error) {
    throw new CaptionerError(
      'DATA_MISSING',
      `cannot read ${path}: run \`captioner prepare --out ${workDir}\` first (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (corpus.version !== 1 || !corpus.splits)
    throw new CaptionerError('DATA_FORMAT', `${path} is not a captioner corpus`);
  return { corpus, vocabulary: await Vocabulary.load(join(workDir, VOCAB_FILE)) };
}
