import { createHash } from 'node:crypto';
import { CaptionerError } from '../util/errors.js';
import { SPLITS, type Split } from './splits.js';

/** Train/dev/test shares of a split made from hashes (normalised to sum 1). */
export type SplitRatio = [number, number, number];
/** Train/dev/test image counts; 'rest' for train takes every image dev and test leave. */
export type SplitSizes = [number | 'rest', number, number];

export const DEFAULT_SPLIT_RATIO: SplitRatio = [0.8, 0.1, 0.1];

/**
 * Where an image falls in [0, 1): the first 48 bits of the SHA-256 of its name. It depends on the name
 * alone, so an image keeps its split when others are added or removed.
 */
export function hashUnit(name: string): number {
  return createHash('sha256').update(name, 'utf8').digest().readUIntBE(0, 6) / 2 ** 48;
}

export interface HashSplit {
  splitOf: Map<string, Split>;
  /** Images left out (only with sizes that add up to fewer images than there are). */
  unused: string[];
}

/**
 * A deterministic split from the hash of each image's file name (without its folder). With a ratio, an image goes to train when its hash is
 * below the train share, to dev when below train + dev, else to test: adding or removing images never
 * moves another. So that a small set still gets every part, a part with a share but no image takes the
 * image of the largest part whose hash is nearest to it. With sizes, the images with the highest hashes
 * go to test, the next ones to dev, then train.
 */
export function hashSplit(
  images: readonly string[],
  how: { ratio?: SplitRatio; sizes?: SplitSizes },
): HashSplit {
  // The file name alone: an image keeps its split when the photos move to other folders, or when the
  // caption file names them by another path.
  const units = new Map(
    images.map((image) => [image, hashUnit(image.slice(image.lastIndexOf('/') + 1).normalize('NFC'))]),
  );
  const splitOf = new Map<string, Split>();
  const unused: string[] = [];
  if (how.sizes) {
    const [train, dev, test] = how.sizes;
    const needed = dev + test + (train === 'rest' ? 0 : train);
    if (needed > images.length)
      throw new CaptionerError(
        'USAGE',
        `--split-sizes ${how.sizes.join(',')} needs ${needed} images, there are ${images.length}`,
      );
    const byHash = [...images].sort((a, b) => units.get(b)! - units.get(a)! || (a < b ? -1 : 1));
    byHash.forEach((image, i) => {
      if (i < test) splitOf.set(image, 'test');
      else if (i < test + dev) splitOf.set(image, 'dev');
      else if (train === 'rest' || i < needed) splitOf.set(image, 'train');
      else unused.push(image);
    });
    return { splitOf, unused };
  }
  const ratio = normaliseRatio(how.ratio ?? DEFAULT_SPLIT_RATIO);
  const bounds = [ratio[0], ratio[0] + ratio[1], 1];
  // Each part's interval of [0, 1), to find the image nearest to an empty part.
  const lows = [0, bounds[0], bounds[1]];
  for (const [image, u] of units) splitOf.set(image, SPLITS[u < bounds[0] ? 0 : u < bounds[1] ? 1 : 2]);
  const wanted = SPLITS.filter((_, i) => ratio[i] > 0);
  if (images.length >= wanted.length) {
    for (const split of wanted) {
      const counts = countSplits(splitOf);
      if (counts[split] > 0) continue;
      const s = SPLITS.indexOf(split);
      const from = SPLITS.reduce((best, t) => (counts[t] > counts[best] ? t : best), 'train' as Split);
      const distance = (u: number) => {
        const d = u < lows[s] ? lows[s] - u : u - bounds[s];
        return Math.max(0, Math.min(d, 1 - d));
      };
      let pick: string | undefined;
      for (const [image, t] of splitOf) {
        if (t !== from) continue;
        if (pick === undefined || distance(units.get(image)!) < distance(units.get(pick)!)) pick = image;
      }
      splitOf.set(pick!, split);
    }
  }
  return { splitOf, unused };
}

function countSplits(splitOf: ReadonlyMap<string, Split>): Record<Split, number> {
  const counts: Record<Split, number> = { train: 0, dev: 0, test: 0 };
  for (const split of splitOf.values()) counts[split]++;
  return counts;
}

function normaliseRatio(ratio: SplitRatio): SplitRatio {
  const sum = ratio[0] + ratio[1] + ratio[2];
  if (!ratio.every((r) => Number.isFinite(r) && r >= 0) || !(sum > 0) || ratio[0] === 0)
    throw new CaptionerError('USAGE', `split ratio ${ratio.join(',')}: three shares ≥ 0, train's above 0`);
  return ratio.map((r) => r / sum) as SplitRatio;
}

/** "0.8,0.1,0.1" (or "8,1,1", normalised). */
export function parseSplitRatio(text: string): SplitRatio {
  const parts = text.split(',').map((p) => Number(p.trim()));
  if (
    parts.length !== 3 ||
    parts.some((p, i) => !Number.isFinite(p) || p < 0 || text.split(',')[i].trim() === '')
  )
    throw new CaptionerError('USAGE', `--split-ratio takes three shares "train,dev,test", got "${text}"`);
  return normaliseRatio(parts as SplitRatio);
}

/** "6000,1000,1000" or "rest,1000,1000". */
export function parseSplitSizes(text: string): SplitSizes {
  const parts = text.split(',').map((p) => p.trim());
  const count = (p: string) => (/^\d+$/.test(p) ? Number(p) : NaN);
  const sizes = [parts[0] === 'rest' ? 'rest' : count(parts[0]), count(parts[1]), count(parts[2])];
  if (parts.length !== 3 || sizes.some((s) => Number.isNaN(s)))
    throw new CaptionerError(
      'USAGE',
      `--split-sizes takes three image counts "train,dev,test" (train may be "rest"), got "${text}"`,
    );
  return sizes as SplitSizes;
}
