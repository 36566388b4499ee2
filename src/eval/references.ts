import { readFile } from 'node:fs/promises';
import { loadCorpus, prepareCorpus } from '../data/corpus.js';
import type { Split } from '../data/splits.js';
import { CaptionerError, errnoCode } from '../util/errors.js';

export interface ReferenceSource {
  /** A data folder (any layout `captioner prepare` reads), read with the same rules as prepare. */
  dataDir?: string;
  /** A work folder written by `captioner prepare` (its corpus.json). */
  workDir?: string;
}

/** The raw reference captions of every image of a split, in split order. */
export async function loadReferences(source: ReferenceSource, split: Split): Promise<Map<string, string[]>> {
  return (await loadSplitReferences(source, split)).references;
}

/**
 * A split's references, from the corpus (image names are its names: paths relative to its photo
 * folder), and where its photos are (null when it was prepared without them).
 */
export async function loadSplitReferences(
  source: ReferenceSource,
  split: Split,
): Promise<{ references: Map<string, string[]>; imagesDir: string | null }> {
  let corpus;
  if (source.workDir) corpus = (await loadCorpus(source.workDir)).corpus;
  else if (source.dataDir) corpus = (await prepareCorpus({ dataDir: source.dataDir })).corpus;
  else throw new CaptionerError('USAGE', 'give the references: --data <data dir> or --work <workdir>');
  const images = corpus.splits[split];
  if (!images || images.length === 0)
    throw new CaptionerError('DATA_MISSING', `the ${split} split has no images`);
  return {
    references: new Map(images.map((m) => [m.image, m.references])),
    imagesDir: corpus.source.imagesDir,
  };
}

/**
 * The corpus name of each captioned image: the name itself, else the longest tail of its path that is
 * one ("/photos/trip/a.jpg" → "trip/a.jpg"), else its file name when one image has it. Unmatched names
 * are kept as they are (the caller reports them).
 */
export function matchCaptionedImages(
  captions: ReadonlyMap<string, string>,
  known: Iterable<string>,
): Map<string, string> {
  const names = new Set(known);
  const byFileName = new Map<string, string | null>();
  for (const name of names) {
    const file = name.slice(name.lastIndexOf('/') + 1);
    byFileName.set(file, byFileName.has(file) ? null : name);
  }
  const matched = new Map<string, string>();
  for (const [image, caption] of captions) {
    const parts = image.replace(/\\/g, '/').split('/');
    let name: string | undefined;
    for (let i = 0; i < parts.length && !name; i++) {
      const tail = parts.slice(i).join('/');
      if (names.has(tail)) name = tail;
    }
    name ??= byFileName.get(parts[parts.length - 1]) ?? image;
    if (matched.has(name)) throw new CaptionerError('DATA_FORMAT', `${name} is captioned twice`);
    matched.set(name, caption);
  }
  return matched;
}

/**
 * Reads a captions file `[{"image": "x.jpg", "caption": "..."}]` into image → caption. Images are
 * named as in the file ('/'-separated; see matchCaptionedImages for the corpus's names); an image
 * listed twice is an error (coco scores one caption per image).
 */
export async function readCaptionsJson(path: string): Promise<Map<string, string>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code = errnoCode(error);
    throw new CaptionerError(
      code === 'ENOENT' ? 'DATA_MISSING' : 'DATA_FORMAT',
      code === 'ENOENT'
        ? `captions file not found: ${path}`
        : `cannot read ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!Array.isArray(parsed))
    throw new CaptionerError('DATA_FORMAT', `${path}: expected a JSON array of {"image", "caption"}`);
  const captions = new Map<string, string>();
  parsed.forEach((entry: unknown, i) => {
    const e = entry as { image?: unknown; caption?: unknown } | null;
    if (!e || typeof e.image !== 'string' || typeof e.caption !== 'string') {
      throw new CaptionerError(
        'DATA_FORMAT',
        `${path}: entry ${i} is not {"image": string, "caption": string}`,
      );
    }
    const image = e.image.replace(/\\/g, '/');
    if (captions.has(image)) throw new CaptionerError('DATA_FORMAT', `${path}: ${image} is captioned twice`);
    captions.set(image, e.caption);
  });
  return captions;
}

/**
 * A human baseline: reference `k` (0-based) of each image as the candidate, the others as references.
 * Images with fewer than two references are left out.
 */
export function leaveOneOut(
  references: ReadonlyMap<string, readonly string[]>,
  k: number,
): { candidates: Map<string, string>; references: Map<string, string[]> } {
  const candidates = new Map<string, string>();
  const rest = new Map<string, string[]>();
  for (const [image, refs] of references) {
    if (refs.length < 2 || k >= refs.length) continue;
    candidates.set(image, refs[k]);
    rest.set(
      image,
      refs.filter((_, i) => i !== k),
    );
  }
  return { candidates, references: rest };
}
