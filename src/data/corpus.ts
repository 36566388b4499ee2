import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { CaptionerError } from '../util/errors.js';
import type { CaptionFileFormat } from './caption-file.js';
import { issueAt, type CaptionSource, type SourceCaption } from './caption-source.js';
import { cleanCaption, DEFAULT_CLEANING, type CleaningOptions } from './clean.js';
import { flickr8kOfficialSplit, looksLikeFlickr8k } from './flickr8k-splits.js';
import { DEFAULT_SPLIT_RATIO, hashSplit, type SplitRatio, type SplitSizes } from './hash-split.js';
import { fileName, IMAGE_NAME, ImageIndex, normaliseImageReference } from './image-index.js';
import type { DataIssue } from './issues.js';
import type { RestvalChoice } from './layouts/karpathy-json.js';
import {
  FLICKR8K_TEXT_SUBDIRS,
  findCaptionFiles,
  readCaptionSource,
  type CaptionReadOptions,
} from './layouts/read-captions.js';
import { readSplitFile, SPLITS, type Split } from './splits.js';
import { Vocabulary } from './vocabulary.js';

/** One image of a split: its raw captions (the references for scoring) and their cleaned token ids. */
export interface CorpusImage {
  /** The photo's path relative to the image folder ('/'-separated): its file name when flat. */
  image: string;
  references: string[];
  /** Word ids without start and end markers; the model adds those. */
  tokens: number[][];
}

/** How the images were split, as prepare printed it. */
export interface CorpusSplitMethod {
  /**
   * split-files: Flickr8k's Flickr_8k.*Images.txt in the data folder; flickr8k-official: the same lists,
   * packaged, for copies without them; source: the caption files' own (Karpathy's JSON, COCO's per-split
   * files); hash: from a hash of each image's name.
   */
  method: 'split-files' | 'flickr8k-official' | 'source' | 'hash';
  description: string;
  files?: string[];
  ratio?: SplitRatio;
  sizes?: SplitSizes;
  restval?: RestvalChoice;
}

export interface CorpusJson {
  version: 1;
  source: {
    /** The first caption file (the only one, but for COCO's per-split files). */
    captionFile: string;
    captionFiles?: string[];
    format: CaptionFileFormat;
    /** Where the images are; corpus image names are relative to it. */
    imagesDir: string | null;
  };
  /** Absent in corpora written before it was recorded (those used the split files). */
  split?: CorpusSplitMethod;
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
  /** The data folder: caption files and images are looked for in it. Default: the caption file's folder. */
  dataDir?: string;
  /** One caption file (default: found in dataDir). */
  captionFile?: string;
  /** Several caption files (COCO: one per split); wins over captionFile. */
  captionFiles?: string[];
  /**
   * Folder of photos, nested or not; when known, captions of missing photos are skipped. Default: the
   * data folder's Images/ (or images/, Flicker8k_Dataset/), else the data folder itself if it holds
   * photos; null: do not look.
   */
  imagesDir?: string | null;
  minCount?: number;
  cleaning?: CleaningOptions;
  /** A hash split with these shares, even where the data has its own split. */
  splitRatio?: SplitRatio;
  /** A hash split with these image counts, even where the data has its own split. */
  splitSizes?: SplitSizes;
  /** Karpathy's `restval` images: train (default), dev, or skip. */
  restval?: RestvalChoice;
  /** Tables of your own: the image column and the caption column(s), when the header does not say. */
  imageColumn?: string;
  captionColumns?: string[];
}

export interface PreparedCorpus {
  corpus: CorpusJson;
  vocabulary: Vocabulary;
  stats: CorpusStats;
}

export const IMAGE_SUBDIRS = ['Images', 'Flicker8k_Dataset', 'Flickr8k_Dataset', 'images'];

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

export async function findImagesDir(dataDir: string): Promise<string | undefined> {
  for (const sub of IMAGE_SUBDIRS) {
    const dir = join(dataDir, sub);
    if (await isDirectory(dir)) return dir;
  }
  return undefined;
}

interface Caption {
  caption: string;
  where: Pick<SourceCaption, 'file' | 'line' | 'at'>;
}

interface ImageGroup {
  /** The name the caption file gave first. */
  reference: string;
  captions: Caption[];
  /** The caption file's split for it: undefined when the file has none, null when it is in none. */
  split?: Split | null;
}

/**
 * Reads, checks and cleans a caption data set into a corpus and a train-split vocabulary: Flickr8k (with
 * or without its split files), Karpathy's split JSON, COCO's captions JSON, or a table of your own.
 */
export async function prepareCorpus(options: PrepareOptions): Promise<PreparedCorpus> {
  const given = options.captionFiles?.length
    ? options.captionFiles
    : options.captionFile
      ? [options.captionFile]
      : undefined;
  const dataDir = options.dataDir ?? (given ? dirname(given[0]) : undefined);
  if (!dataDir)
    throw new CaptionerError('USAGE', 'give the data folder (--data) or the caption files (--captions)');
  if (!(await isDirectory(dataDir)))
    throw new CaptionerError('DATA_MISSING', `data folder not found: ${dataDir}`);
  const captionPaths = given ?? (await findCaptionFiles(dataDir));
  const readOptions: CaptionReadOptions = {
    restval: options.restval,
    imageColumn: options.imageColumn,
    captionColumns: options.captionColumns,
  };
  const sources: CaptionSource[] = [];
  for (const path of captionPaths) sources.push(await readCaptionSource(path, readOptions));
  const index = await openImageIndex(dataDir, options.imagesDir);
  const imagesDir = index?.dir ?? null;
  const cleaning = options.cleaning ?? DEFAULT_CLEANING;
  const minCount = options.minCount ?? 5;
  const skipped: DataIssue[] = sources.flatMap((s) => s.issues);

  // Group by image as the files name it; judge each image once (bad name, missing photo), reported at
  // its first caption.
  const byReference = new Map<string, ImageGroup>();
  for (const source of sources) {
    for (const e of source.entries) {
      const reference = normaliseImageReference(e.image);
      const caption: Caption = { caption: e.caption, where: { file: e.file, line: e.line, at: e.at } };
      const group = byReference.get(reference);
      if (!group) byReference.set(reference, { reference, captions: [caption], split: e.split });
      else if (group.split !== e.split)
        skipped.push(
          issueAt(e, `${reference} is already in ${splitName(group.split)}; this caption is skipped`),
        );
      else group.captions.push(caption);
    }
  }
  const byImage = new Map<string, ImageGroup>();
  for (const group of byReference.values()) {
    const n = group.captions.length;
    const first = group.captions[0].where;
    let reason: string | undefined;
    let image = group.reference;
    if (!IMAGE_NAME.test(fileName(group.reference)))
      reason = `"${group.reference}" is not an image file name; its ${n} captions are skipped`;
    else if (index) {
      const found = index.resolve(group.reference);
      if ('image' in found) image = found.image;
      else if ('ambiguous' in found)
        reason = `${group.reference} could be any of ${found.ambiguous.length} photos in ${imagesDir} (${found.ambiguous.slice(0, 3).join(', ')}${found.ambiguous.length > 3 ? ', …' : ''}): name it by its path; its ${n} captions are skipped`;
      else reason = `no file ${group.reference} in ${imagesDir}; its ${n} captions are skipped`;
    }
    const other = byImage.get(image);
    if (!reason && other && other.split !== group.split)
      reason = `${group.reference} is the photo ${image}, already in ${splitName(other.split)}; its ${n} captions are skipped`;
    if (reason) skipped.push(issueAt(first, reason));
    else if (other) other.captions.push(...group.captions);
    else byImage.set(image, { ...group, reference: image });
  }

  const { owner, split } = await assignSplits(byImage, sources, dataDir, options, skipped);
  const members: Record<Split, { image: string; captions: Caption[] }[]> = { train: [], dev: [], test: [] };
  for (const [image, s] of owner) members[s].push({ image, captions: byImage.get(image)!.captions });

  const cleaned = (split: Split) =>
    members[split].map(({ image, captions }) => ({
      image,
      captions: captions
        .map((c) => ({ ...c, words: cleanCaption(c.caption, cleaning) }))
        .filter((c) => {
          if (c.words.length > 0) return true;
          skipped.push(issueAt(c.where, `caption of ${image} has no words after cleaning`));
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
    format: sources[0].format,
    skipped,
  };
  const corpus: CorpusJson = {
    version: 1,
    source: {
      captionFile: captionPaths[0],
      captionFiles: captionPaths,
      format: sources[0].format,
      imagesDir,
    },
    split,
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

/** The photos of the image folder: the one given, else the data folder's Images/, else its own photos. */
async function openImageIndex(
  dataDir: string,
  imagesDir: string | null | undefined,
): Promise<ImageIndex | undefined> {
  if (imagesDir === null) return undefined;
  if (imagesDir !== undefined) {
    if (!(await isDirectory(imagesDir)))
      throw new CaptionerError('DATA_MISSING', `image folder not found: ${imagesDir}`);
    return ImageIndex.scan(imagesDir);
  }
  const found = await findImagesDir(dataDir);
  if (found) return ImageIndex.scan(found);
  const own = await ImageIndex.scan(dataDir);
  return own.size > 0 ? own : undefined;
}

/**
 * Puts each image in a split. In order: a hash split when one was asked for; the caption files' own
 * split; Flickr8k's split files in the data folder; the packaged official lists when the images are
 * Flickr8k's; else a hash split with the default shares.
 */
async function assignSplits(
  byImage: ReadonlyMap<string, ImageGroup>,
  sources: readonly CaptionSource[],
  dataDir: string,
  options: PrepareOptions,
  skipped: DataIssue[],
): Promise<{ owner: Map<string, Split>; split: CorpusSplitMethod }> {
  const images = [...byImage.keys()];
  const hashed = (ratio: SplitRatio | undefined, sizes: SplitSizes | undefined) => {
    const { splitOf } = hashSplit(images, { ratio, sizes });
    const description = sizes
      ? `from a hash of each image's file name (SHA-256): ${sizes.join('/')} images`
      : `from a hash of each image's file name (SHA-256): ratio ${(ratio ?? DEFAULT_SPLIT_RATIO).map((r) => +r.toFixed(4)).join('/')}`;
    return {
      owner: ordered(images, splitOf),
      split: {
        method: 'hash',
        description,
        ...(sizes ? { sizes } : { ratio: ratio ?? DEFAULT_SPLIT_RATIO }),
      },
    } satisfies { owner: Map<string, Split>; split: CorpusSplitMethod };
  };
  if (options.splitRatio || options.splitSizes) return hashed(options.splitRatio, options.splitSizes);

  if (sources.some((s) => s.format === 'karpathy-json' || s.format === 'coco-json')) {
    const splitOf = new Map<string, Split>();
    for (const [image, group] of byImage) if (group.split) splitOf.set(image, group.split);
    const files = sources.map((s) => basename(s.path));
    const karpathy = sources.some((s) => s.format === 'karpathy-json');
    const restval = options.restval ?? 'train';
    return {
      owner: ordered(images, splitOf),
      split: {
        method: 'source',
        description: karpathy
          ? `Karpathy's splits in ${files.join(', ')} (val is dev; restval ${restval === 'skip' ? 'skipped' : `joins ${restval}`})`
          : `one split a file, from its name: ${sources.map((s) => `${basename(s.path)} → ${s.entries[0]?.split ?? '?'}`).join(', ')}`,
        files,
        ...(karpathy ? { restval } : {}),
      },
    };
  }

  const splitPaths: Partial<Record<Split, string>> = {};
  for (const split of SPLITS) {
    for (const sub of FLICKR8K_TEXT_SUBDIRS) {
      const path = join(dataDir, sub, `Flickr_8k.${split}Images.txt`);
      if (await isFile(path)) {
        splitPaths[split] = path;
        break;
      }
    }
  }
  const foundSplits = SPLITS.filter((s) => splitPaths[s]);
  if (foundSplits.length > 0 && foundSplits.length < SPLITS.length) {
    const missing = SPLITS.find((s) => !splitPaths[s])!;
    throw new CaptionerError(
      'DATA_MISSING',
      `no split file Flickr_8k.${missing}Images.txt in ${dataDir}, beside ${foundSplits.map((s) => basename(splitPaths[s]!)).join(' and ')}: add it, or remove them all to use the official split captioner carries`,
    );
  }
  if (foundSplits.length === SPLITS.length) {
    const byName = uniqueByFileName(images);
    const owner = new Map<string, Split>();
    for (const split of SPLITS) {
      const list = await readSplitFile(splitPaths[split]!, split);
      skipped.push(...list.issues);
      const file = basename(list.path);
      for (const { image: listed, line } of list.images) {
        const image = byImage.has(listed) ? listed : byName.get(listed);
        const other = image && owner.get(image);
        if (other) skipped.push({ file, line, reason: `${listed} is already in the ${other} split` });
        else if (!image) skipped.push({ file, line, reason: `${listed} has no captions` });
        else owner.set(image, split);
      }
    }
    return {
      owner,
      split: {
        method: 'split-files',
        description: `the split files in ${dirname(splitPaths.train!)}`,
        files: SPLITS.map((s) => splitPaths[s]!),
      },
    };
  }

  if (looksLikeFlickr8k(images)) {
    const { lists } = flickr8kOfficialSplit();
    const byName = uniqueByFileName(images);
    const owner = new Map<string, Split>();
    for (const split of SPLITS)
      for (const name of lists[split]) {
        const image = byName.get(name);
        if (image) owner.set(image, split);
      }
    return {
      owner,
      split: {
        method: 'flickr8k-official',
        description: `the official Flickr8k split (its lists come with captioner; ${owner.size} of ${images.length} captioned images are in them)`,
      },
    };
  }
  return hashed(undefined, undefined);
}

function splitName(split: Split | null | undefined): string {
  return split ? `the ${split} split` : split === null ? 'no split (skipped)' : 'no split';
}

/** Image → split, in the order the caption files first name the images. */
function ordered(images: readonly string[], splitOf: ReadonlyMap<string, Split>): Map<string, Split> {
  const owner = new Map<string, Split>();
  for (const image of images) {
    const split = splitOf.get(image);
    if (split) owner.set(image, split);
  }
  return owner;
}

/** File name → image, for the names only one image has (split lists name files, not paths). */
function uniqueByFileName(images: readonly string[]): Map<string, string> {
  const byName = new Map<string, string | null>();
  for (const image of images) {
    const name = fileName(image);
    byName.set(name, byName.has(name) ? null : image);
  }
  return new Map([...byName].filter((e): e is [string, string] => e[1] !== null));
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
