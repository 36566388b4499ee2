import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { flickr8kOfficialSplit, looksLikeFlickr8k } from '../../src/data/flickr8k-splits.js';
import { sharedFlickr8k } from '../helpers/shared.js';
import { SPLIT_LISTS_MODULE, splitListsModule } from './flickr8k-split-lists.gen.js';

test('the packaged official Flickr8k split: 6,000/1,000/1,000 names, each in one split', () => {
  const { lists, splitOf } = flickr8kOfficialSplit();
  assert.equal(lists.train.length, 6000);
  assert.equal(lists.dev.length, 1000);
  assert.equal(lists.test.length, 1000);
  assert.equal(splitOf.size, 8000);
  assert.equal(lists.train[0], '2513260012_03d33305cf.jpg');
  assert.equal(splitOf.get('1000268201_693b08cb0e.jpg'), 'train');
});

test('Flickr8k is told by its image names, in a folder or not', () => {
  const { lists } = flickr8kOfficialSplit();
  assert.ok(looksLikeFlickr8k(lists.dev.slice(0, 30)));
  assert.ok(
    looksLikeFlickr8k([...lists.test.slice(0, 95), ...Array.from({ length: 5 }, (_, i) => `x${i}.jpg`)]),
  );
  assert.ok(looksLikeFlickr8k(lists.test.slice(0, 10).map((n) => `Images/${n}`)));
  assert.ok(!looksLikeFlickr8k([...lists.test.slice(0, 8), 'IMG_0001.jpg', 'IMG_0002.jpg']));
  assert.ok(!looksLikeFlickr8k([]));
});

test('the packaged lists are the official split files, as the generator writes them', async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  assert.equal(await readFile(SPLIT_LISTS_MODULE, 'utf8'), await splitListsModule(dir));
});
