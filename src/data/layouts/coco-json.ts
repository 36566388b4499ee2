import { basename } from 'node:path';
import { CaptionerError } from '../../util/errors.js';
import type { CaptionSource, SourceCaption } from '../caption-source.js';
import type { DataIssue } from '../issues.js';
import type { Split } from '../splits.js';

/** Whether parsed JSON is a COCO captions file (`captions_train2017.json`). */
export function isCocoCaptionsJson(json: unknown): boolean {
  const j = json as { images?: unknown; annotations?: unknown } | null;
  return Array.isArray(j?.images) && Array.isArray(j?.annotations);
}

/**
 * The split a COCO captions file holds, from its name: `train`, `val` (dev) or `test`, as in
 * `captions_train2017.json`, `captions_val2014.json`, `captions_test.json`.
 */
export function cocoSplitFromName(path: string): Split {
  const words = basename(path)
    .toLowerCase()
    .replace(/\.json$/, '')
    .split(/[^a-z]+/);
  const found = (['train', 'val', 'test'] as const).filter((w) => words.some((word) => word.includes(w)));
  if (found.length !== 1)
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: cannot tell the split of a COCO captions file from its name: it should say train, val or test (as captions_train2017.json), ${found.length ? `not ${found.join(' and ')}` : 'and does not'}`,
    );
  return found[0] === 'val' ? 'dev' : found[0];
}

/**
 * COCO's captions JSON: `images[{id, file_name}]` and `annotations[{image_id, caption}]`, one file per
 * split, the split taken from the file's name.
 */
export function parseCocoJson(json: unknown, path: string): CaptionSource {
  const file = basename(path);
  if (!isCocoCaptionsJson(json))
    throw new CaptionerError(
      'DATA_FORMAT',
      `${path}: not a COCO captions file (no "images" and "annotations" arrays)`,
    );
  const split = cocoSplitFromName(path);
  const { images, annotations } = json as { images: unknown[]; annotations: unknown[] };
  const issues: DataIssue[] = [];
  const byId = new Map<string, { name: string; at: string; captions: number }>();
  images.forEach((item, i) => {
    const image = item as { id?: unknown; file_name?: unknown } | null;
    const at = `images[${i}]`;
    if (!image || (typeof image.id !== 'number' && typeof image.id !== 'string')) {
      issues.push({ file, line: 0, reason: `${at}: no "id"` });
    } else if (typeof image.file_name !== 'string' || image.file_name.trim() === '') {
      issues.push({ file, line: 0, reason: `${at}: no "file_name" for id ${image.id}` });
    } else if (byId.has(String(image.id))) {
      issues.push({ file, line: 0, reason: `${at}: id ${image.id} is listed twice` });
    } else byId.set(String(image.id), { name: image.file_name.trim(), at, captions: 0 });
  });
  const entries: SourceCaption[] = [];
  annotations.forEach((item, i) => {
    const a = item as { image_id?: unknown; caption?: unknown } | null;
    const at = `annotations[${i}]`;
    const image =
      a && (typeof a.image_id === 'number' || typeof a.image_id === 'string')
        ? byId.get(String(a.image_id))
        : undefined;
    if (!image) {
      issues.push({
        file,
        line: 0,
        reason: `${at}: image_id ${JSON.stringify(a?.image_id)} is not in "images"`,
      });
    } else if (typeof a!.caption !== 'string' || a!.caption.trim() === '') {
      issues.push({ file, line: 0, reason: `${at}: empty caption for ${image.name}` });
    } else {
      image.captions++;
      entries.push({ image: image.name, caption: a!.caption.trim(), file, line: 0, at, split });
    }
  });
  for (const image of byId.values())
    if (image.captions === 0)
      issues.push({ file, line: 0, reason: `${image.at} (${image.name}): no caption` });
  return { path, format: 'coco-json', entries, issues };
}
