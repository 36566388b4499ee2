// What bench:serve and bench:queue share: stopping with a message, and the Flickr8k test photos.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from '../src/util/paths.js';

/** Stops the benchmark `name` with a message. */
export function failWith(name: string): (message: string) => never {
  return (message) => {
    process.stderr.write(`${name}: ${message}\n`);
    process.exit(1);
  };
}

/** The first `count` Flickr8k test photos (paths) in the shared data; stops with `fail` without them. */
export function testPhotos(count: number, fail: (message: string) => never): string[] {
  const dir = join(sharedDir(), 'flickr8k');
  const list = join(dir, 'Flickr_8k.testImages.txt');
  if (!existsSync(list))
    fail(`Flickr8k not found in ${dir} (set CAPTIONER_SHARED to the folder holding flickr8k/)`);
  const names = readFileSync(list, 'utf8').split('\n').filter(Boolean);
  if (names.length < count) fail(`only ${names.length} test photos`);
  return names.slice(0, count).map((name) => join(dir, 'Images', name));
}
