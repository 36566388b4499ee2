import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCorpus, prepareCorpus } from '../../src/data/corpus.js';
import { runCli } from '../helpers/cli.js';
import { makeFlickrFixture, tokenLines } from '../helpers/flickr-fixture.js';
import { sharedFlickr8k } from '../helpers/shared.js';

const five = (s: string) => [`A ${s} .`, `The ${s} here`, `A ${s} again`, `One ${s}`, `A big ${s} !`];

/** Every kind of messy data in one small folder. */
async function messyFixture(): Promise<string> {
  return makeFlickrFixture({
    captionLines: [
      ...tokenLines('1_a.jpg', five('dog')),
      'garbage line without any tab',
      ...tokenLines('2_b.jpg', five('cat')),
      '2_b.jpg#5\t',
      ...tokenLines('3_c.jpg', five('dog')),
      ...tokenLines('3_c.jpg.1', five('ghost')),
      ...tokenLines('4_d.jpg', five('bird')), // captioned, but no photo
      ...tokenLines('5_e.jpg', ['2 3 4 .', 'A dog']),
    ],
    splits: {
      train: ['1_a.jpg', '2_b.jpg', '4_d.jpg'],
      dev: ['3_c.jpg', '1_a.jpg'],
      test: ['6_f.jpg', '5_e.jpg'],
    },
    images: ['1_a.jpg', '2_b.jpg', '3_c.jpg', '5_e.jpg', '6_f.jpg'],
  });
}

test('prepare reports each kind of messy data with file, line and reason, and keeps going', async () => {
  const dir = await messyFixture();
  const { corpus, vocabulary, stats } = await prepareCorpus({ dataDir: dir, minCount: 2 });
  const skipped = stats.skipped.map((s) => `${s.file}:${s.line}: ${s.reason}`);
  assert.deepEqual(
    skipped.sort(),
    [
      'Flickr8k.token.txt:6: no tab between image and caption',
      'Flickr8k.token.txt:12: empty caption for 2_b.jpg',
      'Flickr8k.token.txt:18: "3_c.jpg.1" is not an image file name; its 5 captions are skipped',
      `Flickr8k.token.txt:23: no file 4_d.jpg in ${join(dir, 'Images')}; its 5 captions are skipped`,
      'Flickr8k.token.txt:28: caption of 5_e.jpg has no words after cleaning',
      'Flickr_8k.devImages.txt:2: 1_a.jpg is already in the train split',
      'Flickr_8k.testImages.txt:1: 6_f.jpg has no captions',
      'Flickr_8k.trainImages.txt:3: 4_d.jpg has no captions',
    ].sort(),
  );
  assert.deepEqual(stats.images, { train: 2, dev: 1, test: 1 });
  assert.deepEqual(stats.captions, { train: 10, dev: 5, test: 1 });
  assert.deepEqual(corpus.splits.test[0].references, ['A dog']);
  // Vocabulary from train only: "dog" (train 5×) and "cat" are in; "bird" (no photo) never counted.
  assert.ok(vocabulary.tokens.includes('dog') && vocabulary.tokens.includes('cat'));
  assert.ok(!vocabulary.tokens.includes('bird'));
  assert.equal(vocabulary.decode(corpus.splits.train[0].tokens[0]), 'a dog');
});

test('captioner prepare --json prints one JSON object and writes corpus and vocabulary', async () => {
  const dir = await messyFixture();
  const out = await mkdtemp(join(tmpdir(), 'captioner-work-'));
  const result = await runCli(['prepare', '--data', dir, '--out', out, '--min-count', '2', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const stats = JSON.parse(result.stdout);
  assert.deepEqual(stats.images, { train: 2, dev: 1, test: 1 });
  assert.equal(stats.vocabSize, stats.vocabWords + 4);
  assert.ok(
    stats.skipped.some((s: { line: number; reason: string }) => s.line === 6 && /no tab/.test(s.reason)),
  );
  const { corpus, vocabulary } = await loadCorpus(out);
  assert.equal(corpus.splits.train.length, 2);
  assert.equal(vocabulary.size, stats.vocabSize);
  const report = JSON.parse(await readFile(join(out, 'prepare-report.json'), 'utf8'));
  assert.deepEqual(report, stats);
});

test('captioner prepare prints a readable table', async () => {
  const dir = await messyFixture();
  const out = await mkdtemp(join(tmpdir(), 'captioner-work-'));
  const result = await runCli(['prepare', '--data', dir, '--out', out, '--min-count', '2']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /train\s+2\s+10/);
  assert.match(result.stdout, /skipped: 8/);
  assert.match(result.stdout, /Flickr8k\.token\.txt:6: no tab/);
});

test('a Kaggle captions.txt folder prepares the same way', async () => {
  const dir = await makeFlickrFixture({
    captionFileName: 'captions.txt',
    captionLines: ['image,caption', '1_a.jpg,"A dog, running ."', '1_a.jpg,A dog', '2_b.jpg,A cat'],
    splits: { train: ['1_a.jpg'], dev: ['2_b.jpg'], test: [] },
  });
  const { stats, corpus } = await prepareCorpus({ dataDir: dir, minCount: 1 });
  assert.equal(stats.format, 'kaggle-csv');
  assert.deepEqual(stats.captions, { train: 2, dev: 1, test: 0 });
  assert.deepEqual(corpus.splits.train[0].references, ['A dog, running .', 'A dog']);
});

test('a missing folder or split file is a one-line error and a non-zero exit', async () => {
  const missing = await runCli(['prepare', '--data', '/nonexistent/flickr', '--out', tmpdir()]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'captioner: error: data folder not found: /nonexistent/flickr\n');
  const dir = await makeFlickrFixture({
    captionLines: ['a.jpg#0\tA dog'],
    splits: { train: [], dev: [], test: [] },
  });
  await rm(join(dir, 'Flickr_8k.devImages.txt'));
  const noSplit = await runCli(['prepare', '--data', dir, '--out', tmpdir()]);
  assert.equal(noSplit.code, 1);
  assert.match(noSplit.stderr, /^captioner: error: no split file Flickr_8k.devImages.txt in .*\n$/);
});

test('the real Flickr8k: 6000/1000/1000 images, 30,000 train captions, ~2,529 words', async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  const { stats } = await prepareCorpus({ dataDir: dir });
  assert.deepEqual(stats.images, { train: 6000, dev: 1000, test: 1000 });
  assert.deepEqual(stats.captions, { train: 30000, dev: 5000, test: 5000 });
  assert.equal(stats.vocabWords, 2529);
  assert.ok(stats.skipped.some((s) => s.reason.includes('2258277193_586949ec62.jpg.1')));
});
