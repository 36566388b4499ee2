import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCorpus } from '../../src/data/corpus.js';
import { SPLITS } from '../../src/data/splits.js';
import { runCli } from '../helpers/cli.js';
import { sharedFlickr8k } from '../helpers/shared.js';
import { sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

/**
 * Your own photos, start to finish: renamed photos in two albums (the same file names in both), a CSV
 * of captions in the photo folder, then prepare, features, train, eval (stored features and photos)
 * and score, all reading the corpus, not a Flickr8k file.
 */
test('own photos in nested albums: prepare, features, train, eval and score from the corpus', async (t) => {
  const { dir, skip } = sharedFlickr8k();
  if (!dir) return t.skip(skip);
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const captions = new Map<string, string[]>();
  for (const line of (await readFile(join(dir, 'Flickr8k.token.txt'), 'utf8')).split('\n')) {
    const [key, caption] = line.split('\t');
    if (caption)
      captions.set(key.replace(/#\d+$/, ''), [...(captions.get(key.replace(/#\d+$/, '')) ?? []), caption]);
  }
  const root = await mkdtemp(join(tmpdir(), 'captioner-own-'));
  const photos = join(root, 'photos');
  const rows = ['file_name\tcaption'];
  const originals = [...captions.keys()].sort().slice(0, 24);
  for (const [i, original] of originals.entries()) {
    const album = `album${i % 2}`;
    const name = `IMG_${String(Math.floor(i / 2)).padStart(4, '0')}.jpg`;
    await mkdir(join(photos, album), { recursive: true });
    await symlink(join(dir, 'Images', original), join(photos, album, name));
    for (const c of captions.get(original)!) rows.push(`${album}/${name}\t${c}`);
  }
  await writeFile(join(photos, 'captions.tsv'), rows.join('\n') + '\n');
  const work = join(root, 'work');
  const model = join(root, 'model');

  const prepare = await runCli(['prepare', '--data', photos, '--out', work, '--min-count', '1', '--json']);
  assert.equal(prepare.code, 0, prepare.stderr);
  const stats = JSON.parse(prepare.stdout);
  assert.equal(stats.format, 'tsv');
  assert.ok(
    SPLITS.every((s) => stats.images[s] > 0),
    JSON.stringify(stats.images),
  );
  const { corpus } = await loadCorpus(work);
  assert.equal(corpus.source.imagesDir, photos);

  // No --data: the corpus's photo folder and its photos, nested.
  const features = await runCli(['features', '--out', work, '--json']);
  assert.equal(features.code, 0, features.stderr);
  assert.equal(JSON.parse(features.stdout).computed, 24);

  const train = await runCli([
    'train',
    '--work',
    work,
    '--out',
    model,
    '--epochs',
    '1',
    '--embed-dim',
    '8',
    '--units',
    '8',
    '--threads',
    '1',
    '--no-progress',
  ]);
  assert.equal(train.code, 0, train.stderr);

  const out = join(root, 'test-captions.json');
  const evaluated = await runCli([
    'eval',
    '--model',
    model,
    '--work',
    work,
    '--split',
    'test',
    '--out',
    out,
    '--json',
  ]);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const summary = JSON.parse(evaluated.stdout);
  assert.equal(summary.images, stats.images.test);
  const written = JSON.parse(await readFile(out, 'utf8')) as { image: string }[];
  assert.deepEqual(
    written.map((c) => c.image),
    corpus.splits.test.map((m) => m.image),
  );
  assert.ok(written.every((c) => /^album[01]\/IMG_\d{4}\.jpg$/.test(c.image)));

  const scored = await runCli(['score', '--captions', out, '--work', work, '--split', 'test', '--json']);
  assert.equal(scored.code, 0, scored.stderr);
  assert.equal(JSON.parse(scored.stdout).ciderD, summary.ciderD);
  const fromData = await runCli(['score', '--captions', out, '--data', photos, '--split', 'test', '--json']);
  assert.equal(fromData.code, 0, fromData.stderr);
  assert.equal(JSON.parse(fromData.stdout).ciderD, summary.ciderD);

  // The photos themselves through the encoder, with the data folder's corpus: the same captions.
  const photosOut = join(root, 'test-captions-photos.json');
  const direct = await runCli([
    'eval',
    '--model',
    model,
    '--data',
    photos,
    '--split',
    'test',
    '--out',
    photosOut,
    '--json',
  ]);
  assert.equal(direct.code, 0, direct.stderr);
  assert.deepEqual(JSON.parse(await readFile(photosOut, 'utf8')), written);
});
