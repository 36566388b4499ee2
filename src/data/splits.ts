import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CaptionerError, errnoCode } from '../util/errors.js';
import type { DataIssue } from './issues.js';

export const SPLITS = ['train', 'dev', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export interface SplitList {
  split: Split;
  path: string;
  /** Image names in file order, each once. */
  images: { image: string; line: number }[];
  issues: DataIssue[];
}

/** Reads an official split file (`Flickr_8k.trainImages.txt`): one image name a line. */
export async function readSplitFile(path: string, split: Split): Promise<SplitList> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CaptionerError(
      'DATA_MISSING',
      errnoCode(error) === 'ENOENT' ? `split file not found: ${path}` : `cannot read split file ${path}`,
      { cause: error },
    );
  }
  const file = basename(path);
  const seen = new Set<string>();
  const images: SplitList['images'] = [];
  const issues: DataIssue[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const image = raw.trim();
      if (image === '') return;
      const line = index + 1;
      if (/\s/.test(image)) issues.push({ file, line, reason: `not an image name: "${image.slice(0, 60)}"` });
      else if (seen.has(image)) issues.push({ file, line, reason: `${image} is listed twice` });
      else {
        seen.add(image);
        images.push({ image, line });
      }
    });
  return { split, path, images, issues };
}
