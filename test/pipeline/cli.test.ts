import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { makeTemplatedFixture, SIX_PHOTOS } from '../helpers/flickr-fixture.js';
import { truncate } from '../helpers/images.js';
import { makeRandomModel } from '../helpers/random-model.js';
import { DOG_PHOTOS, flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

const PHOTOS = SIX_PHOTOS;

test('captioner caption on a folder with broken files captions the rest and exits 1', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const model = await makeRandomModel();
  const dir = await mkdtemp(join(tmpdir(), 'captioner-photos-'));
  await mkdir(join(dir, 'more'));
  for (const p of DOG_PHOTOS.slice(0, 2)) await copyFile(join(flickrImages(), p), join(dir, p));
  await copyFile(join(flickrImages(), DOG_PHOTOS[2]), join(dir, 'more', DOG_PHOTOS[2]));
  await writeFile(join(dir, 'broken.jpg'), truncate(await readFile(join(flickrImages(), DOG_PHOTOS[0]))));
  await writeFile(join(dir, 'text.jpg'), 'just text');
  await writeFile(join(dir, 'notes.txt'), 'not an image, and not named like one: ignored');

  const text = await runCli(['caption', dir, '--model', model]);
  assert.equal(text.code, 1, text.stderr);
  const lines = text.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  for (const line of lines) assert.match(line, /\.jpg: \S+/);
  assert.match(text.stderr, /broken\.jpg: .*corrupt or truncated/);
  assert.match(text.stderr, /text\.jpg: .*not an image/);
  assert.match(text.stderr, /2 of 5 images failed/);

  const jsonl = await runCli(['caption', dir, '--model', model, '--jsonl', '--alternatives', '1']);
  const records = jsonl.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(records.length, 5);
  assert.deepEqual(
    records
      .filter((r) => r.error)
      .map((r) => r.error.code)
      .sort(),
    ['IMAGE_CORRUPT', 'IMAGE_UNSUPPORTED'],
  );
  for (const r of records.filter((r) => !r.error)) assert.equal(r.alternatives.length, 2);

  const good = await runCli(['caption', join(dir, DOG_PHOTOS[0]), '--model', model, '--json']);
  assert.equal(good.code, 0, good.stderr);
  assert.equal(JSON.parse(good.stdout).length, 1);
  const missing = await runCli(['caption', join(dir, 'nope.jpg'), '--model', model]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^captioner: error: no such file or folder: .*nope\.jpg\n$/);
});

test('captioner eval captions a split from photos or stored features and scores it', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const model = await makeRandomModel();
  const data = await makeTemplatedFixture(PHOTOS, {
    train: PHOTOS.slice(0, 2),
    dev: PHOTOS.slice(2, 4),
    test: PHOTOS.slice(4),
  });
  const work = await mkdtemp(join(tmpdir(), 'captioner-work-'));
  assert.equal((await runCli(['prepare', '--data', data, '--out', work, '--min-count', '1'])).code, 0);
  const features = await runCli(['features', '--data', data, '--out', work]);
  assert.equal(features.code, 0, features.stderr);

  const out = join(work, 'dev-captions.json');
  const fromStore = await runCli([
    'eval',
    '--model',
    model,
    '--work',
    work,
    '--split',
    'dev',
    '--out',
    out,
    '--json',
  ]);
  assert.equal(fromStore.code, 0, fromStore.stderr);
  const summary = JSON.parse(fromStore.stdout);
  assert.equal(summary.images, 2);
  for (const m of ['bleu1', 'bleu4', 'rougeL', 'ciderD']) assert.equal(typeof summary[m], 'number');
  const captions = JSON.parse(await readFile(out, 'utf8'));
  assert.deepEqual(
    captions.map((c: { image: string }) => c.image),
    PHOTOS.slice(2, 4),
  );

  // The photos through the encoder give the same features, so the same captions.
  const out2 = join(work, 'dev-captions-2.json');
  const fromPhotos = await runCli([
    'eval',
    '--model',
    model,
    '--data',
    data,
    '--split',
    'dev',
    '--out',
    out2,
    '--json',
  ]);
  assert.equal(fromPhotos.code, 0, fromPhotos.stderr);
  assert.deepEqual(JSON.parse(await readFile(out2, 'utf8')), captions);

  const table = await runCli(['eval', '--model', model, '--work', work, '--split', 'test', '--record']);
  assert.match(table.stdout, /CIDEr-D/);
  const scores = JSON.parse(await readFile(join(model, 'scores.json'), 'utf8'));
  assert.equal(scores.test.images, 2);
});
