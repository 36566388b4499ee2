import { basename } from 'node:path';
import { CaptionerError } from '../../util/errors.js';
import type { CaptionSource, SourceCaption } from '../caption-source.js';
import type { DataIssue } from '../issues.js';
import type { Split } from '../splits.js';

/** Where Karpathy's `restval` images go: train (the usual "Karpathy split"), dev, or nowhere. */
export type RestvalChoice = 'train' | 'dev' | 'skip';

/** Whether parsed JSON is Karpathy's split file (`dataset_flickr8k.json`, `dataset_coco.json`, …). */
export function isKarpathyJson(json: unknown): boolean {
  const images = (json as { images?: unknown } | null)?.images;
  if (!Array.isArray(images)) return false;
  const first = images.find((i) => i && typeof i === 'object') as Record<string, unknown> | undefined;
  return first !== undefined && 'sentences' in first && 'filename' in first;
}

/**
 * Karpathy's JSON: `images[]` with `filename`, `filepath` (COCO's folder), `split` (train, val, test,
 * restval) and `sentences[].raw`. `val` is dev; `restval` goes where `restval` says.
 */
export function parseKarpathyJson(
  json: unknown,
  path: string,
  restval: RestvalChoice = 'train',
): CaptionSource {
  const file = basename(path);
  const images = (json as { images?: unknown } | null)?.images;
  if (!Array.isArray(images))
    throw new CaptionerError('DATA_FORMAT', `${path}: not Karpathy's split JSON (no "images" array)`);
  const entries: SourceCaption[] = [];
  const issues: DataIssue[] = [];
  const splitOf: Record<string, Split | null> = {
    train: 'train',
    val: 'dev',
    test: 'test',
    restval: restval === 'skip' ? null : restval,
  };
  images.forEach((item: unknown, i) => {
    const at = `images[${i}]`;
    const image = item as {
      filename?: unknown;
      filepath?: unknown;
      split?: unknown;
      sentences?: unknown;
    } | null;
    if (
      !image ||
      typeof image !== 'object' ||
      typeof image.filename !== 'string' ||
      image.filename.trim() === ''
    ) {
      issues.push({ file, line: 0, reason: `${at}: no "filename"` });
      return;
    }
    const folder = typeof image.filepath === 'string' ? image.filepath.trim().replace(/\/+$/, '') : '';
    const name = folder ? `${folder}/${image.filename.trim()}` : image.filename.trim();
    const sentences = Array.isArray(image.sentences) ? image.sentences : [];
    if (typeof image.split !== 'string' || !(image.split in splitOf)) {
      issues.push({
        file,
        line: 0,
        reason: `${at} (${name}): split ${JSON.stringify(image.split)} is not train, val, test or restval; its ${sentences.length} captions are skipped`,
      });
      return;
    }
    const split = splitOf[image.split];
    if (sentences.length === 0) {
      issues.push({ file, line: 0, reason: `${at} (${name}): no sentences` });
      return;
    }
    sentences.forEach((s: unknown, j) => {
      const sentence = s as { raw?: unknown; tokens?: unknown } | null;
      const raw =
        typeof sentence?.raw === 'string'
          ? sentence.raw.trim()
          : Array.isArray(sentence?.tokens)
            ? sentence.tokens.join(' ').trim()
            : '';
      if (raw === '')
        issues.push({ file, line: 0, reason: `${at}.sentences[${j}]: empty caption for ${name}` });
      else entries.push({ image: name, caption: raw, file, line: 0, at: `${at}.sentences[${j}]`, split });
    });
  });
  return { path, format: 'karpathy-json', entries, issues };
}
