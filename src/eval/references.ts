import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadCorpus, prepareCorpus } from '../data/corpus.js';
import type { Split } from '../data/splits.js';
import { CaptionerError, errnoCode } from '../util/errors.js';

export interface ReferenceSource {
  /** A Flickr8k folder, read with the same rules as `captioner prepare`. */
  dataDir?: string;
  /** A work folder written by `captioner prepare` (its corpus.json). */
  workDir?: string;
}

/** The raw reference captions of every image of a split, in split order. */
export async function loadReferences(source: ReferenceSource, split: Split): Promise<Map<string, string[]>> {
  let images;
  if (source.workDir) images = (await loadCorpus(source.workDir)).corpus.splits[split];
  else if (source.dataDir) images = (await prepareCorpus({ dataDir: source.dataDir })).corpus.splits[split];
  else throw new CaptionerError('USAGE', 'give the references: --data <flickr8k dir> or --work <workdir>');
  if (!images || images.length === 0)
    throw new CaptionerError('DATA_MISSING', `the ${split} split has no images`);
  return new Map(images.map((m) => [m.image, m.references]));
}

/**
 * Reads a captions file `[{"image": "x.jpg", "caption": "..."}]` into image → caption. Image paths are
 * reduced to their file name; an image listed twice is an error (coco scores one caption per image).
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
    const image = basename(e.image);
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
