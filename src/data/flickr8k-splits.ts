import { FLICKR8K_SPLIT_LISTS } from './flickr8k-split-lists.js';
import { SPLITS, type Split } from './splits.js';

/**
 * The official Flickr8k split (6,000/1,000/1,000 images), packaged so that copies without the split
 * files (Kaggle's `Images/` + `captions.txt`) get the split that papers and tutorials report on.
 */
export interface OfficialSplit {
  /** Image names (with ".jpg") of each split, in the official files' order. */
  lists: Record<Split, readonly string[]>;
  splitOf: ReadonlyMap<string, Split>;
}

let official: OfficialSplit | undefined;

export function flickr8kOfficialSplit(): OfficialSplit {
  if (!official) {
    const lists = {} as Record<Split, string[]>;
    const splitOf = new Map<string, Split>();
    for (const split of SPLITS) {
      lists[split] = FLICKR8K_SPLIT_LISTS[split]
        .split('\n')
        .filter((n) => n !== '')
        .map((n) => `${n}.jpg`);
      for (const name of lists[split]) splitOf.set(name, split);
    }
    official = { lists, splitOf };
  }
  return official;
}

/** Share of the official names a set must cover, among its image names, to be taken as Flickr8k. */
export const FLICKR8K_MIN_SHARE = 0.9;

/**
 * Whether a set of image names is Flickr8k (or a part of it): at least 90% of the names (their file
 * names, without folders) are in the official lists. The full set has 8,091 photos, 8,000 of them listed.
 */
export function looksLikeFlickr8k(images: Iterable<string>): boolean {
  const { splitOf } = flickr8kOfficialSplit();
  let total = 0;
  let known = 0;
  for (const image of images) {
    total++;
    if (splitOf.has(image.slice(image.lastIndexOf('/') + 1))) known++;
  }
  return total > 0 && known >= FLICKR8K_MIN_SHARE * total;
}
