import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from '../../src/util/paths.js';

/** The Flickr8k folder in ../shared (or CAPTIONER_SHARED), or undefined with the reason to skip. */
export function sharedFlickr8k(): { dir?: string; skip?: string } {
  const dir = join(sharedDir(), 'flickr8k');
  return existsSync(join(dir, 'Flickr8k.token.txt'))
    ? { dir }
    : { skip: `Flickr8k not found in ${dir} (set CAPTIONER_SHARED to the folder holding flickr8k/)` };
}
