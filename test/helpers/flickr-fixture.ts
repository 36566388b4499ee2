import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flickrImages } from './vision.js';

export interface FixtureOptions {
  /** Lines of the caption file, written as is. */
  captionLines: string[];
  captionFileName?: string;
  splits: { train: string[]; dev: string[]; test: string[] };
  /** Photos to create in Images/ (content is irrelevant to `prepare`). */
  images?: string[];
  /** Flickr8k photos of ../shared to copy into Images/ (real pixels, for `features`). */
  photos?: string[];
}

/** A tiny Flickr8k-shaped folder in a fresh temp dir. */
export async function makeFlickrFixture(options: FixtureOptions): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'captioner-fixture-'));
  await writeFile(
    join(dir, options.captionFileName ?? 'Flickr8k.token.txt'),
    options.captionLines.join('\n') + '\n',
  );
  for (const split of ['train', 'dev', 'test'] as const) {
    await writeFile(join(dir, `Flickr_8k.${split}Images.txt`), options.splits[split].join('\n') + '\n');
  }
  if (options.images || options.photos) await mkdir(join(dir, 'Images'));
  for (const image of options.images ?? [])
    await writeFile(join(dir, 'Images', image), 'not read by prepare');
  for (const photo of options.photos ?? [])
    await copyFile(join(flickrImages(), photo), join(dir, 'Images', photo));
  return dir;
}

/** Five token-format captions for an image. */
export function tokenLines(image: string, captions: string[]): string[] {
  return captions.map((c, i) => `${image}#${i}\t${c}`);
}
