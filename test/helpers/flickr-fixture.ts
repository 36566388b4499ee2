import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOG_PHOTOS, flickrImages } from './vision.js';

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

/** Six Flickr8k photos of ../shared: three of dogs, three of people. */
export const SIX_PHOTOS = [
  ...DOG_PHOTOS,
  '1000268201_693b08cb0e.jpg',
  '1001773457_577c3a7d70.jpg',
  '1002674143_1b742ab4b8.jpg',
];

/**
 * A Flickr8k-shaped folder of real photos, each with five templated captions about a dog or a man
 * (alternately: "A dog runs .", "The man is here", …), split as given: the tiny data set the CLI tests
 * prepare, train, caption and score on.
 */
export function makeTemplatedFixture(
  photos: string[],
  splits: { train: string[]; dev: string[]; test: string[] },
): Promise<string> {
  const five = (s: string) => [
    `A ${s} runs .`,
    `The ${s} is here`,
    `A ${s} on grass`,
    `One ${s}`,
    `A ${s} !`,
  ];
  return makeFlickrFixture({
    captionLines: photos.flatMap((p, i) => tokenLines(p, five(i % 2 ? 'dog' : 'man'))),
    splits,
    photos,
  });
}
