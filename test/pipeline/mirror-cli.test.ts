import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { runCli } from '../helpers/cli.js';
import { makeFlickrFixture, tokenLines } from '../helpers/flickr-fixture.js';
import { DOG_PHOTOS, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';
import { readPooledFeatures } from '../../src/vision/feature-store.js';

const PHOTOS = [...DOG_PHOTOS, '1000268201_693b08cb0e.jpg', '1001773457_577c3a7d70.jpg'];

test('features --mirror stores each photo mirrored, and train --augment mirror trains on both views', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const captions = (s: string) => [`A ${s} runs to the left .`, `The ${s} is here`, `A ${s} on grass`];
  const data = await makeFlickrFixture({
    captionLines: PHOTOS.flatMap((p, i) => tokenLines(p, captions(i % 2 ? 'dog' : 'man'))),
    splits: { train: PHOTOS.slice(0, 3), dev: PHOTOS.slice(3, 4), test: PHOTOS.slice(4) },
    photos: PHOTOS,
  });
  // The first photo mirrored beforehand, as a file of its own (224 × 224: no resampling, so its
  // pixels are exactly the mirror of the first photo's).
  await sharp(join(data, 'Images', PHOTOS[0]))
    .flop()
    .png()
    .toFile(join(data, 'Images', 'mirror-copy.png'));
  const work = await mkdtemp(join(tmpdir(), 'captioner-mirror-'));
  assert.equal((await runCli(['prepare', '--data', data, '--out', work, '--min-count', '1'])).code, 0);
  assert.equal((await runCli(['features', '--data', data, '--out', work])).code, 0);
  const small = ['--units', '16', '--embed-dim', '8', '--epochs', '2', '--no-progress'];
  const trainMirrored = () =>
    runCli(['train', '--work', work, '--out', join(work, 'm'), '--augment', 'mirror', ...small]);
  const missing = await trainMirrored();
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /no features in .*mobilenetv2-int8\.mirrored: run captioner features .*--mirror/,
  );

  const features = await runCli(['features', '--data', data, '--out', work, '--mirror', '--json']);
  assert.equal(features.code, 0, features.stderr);
  const summary = JSON.parse(features.stdout);
  assert.equal(summary.reused, PHOTOS.length + 1, 'the photos as they are were already stored');
  assert.equal(summary.mirrored.computed, PHOTOS.length + 1);
  const plain = await readPooledFeatures(work);
  const mirror = await readPooledFeatures(work, undefined, 'mirrored');
  const ofCopy = plain.get('mirror-copy.png')!;
  const mirrored = mirror.get(PHOTOS[0])!;
  const original = plain.get(PHOTOS[0])!;
  const diff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  assert.ok(diff(mirrored, ofCopy) < 1e-4, `mirrored view vs the mirrored file: ${diff(mirrored, ofCopy)}`);
  assert.ok(diff(mirrored, original) > 1e-2, 'the mirrored view is not the photo itself');

  const run = await trainMirrored();
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /training merge on \d+ captions .*, and their photos mirrored/);
  const config = JSON.parse(await readFile(join(work, 'm', 'config.json'), 'utf8'));
  assert.equal(config.training.augment, 'mirror');
  const resumed = await runCli(['train', '--work', work, '--out', join(work, 'm'), '--resume', ...small]);
  assert.equal(resumed.code, 1, 'a resume without the augmentation is refused');
  assert.match(resumed.stderr, /cannot resume: augment was "mirror"/);
  // Self-critical fine-tuning with the mirror images among its training images.
  const scst = await runCli([
    'train',
    '--scst',
    '--from',
    join(work, 'm'),
    '--work',
    work,
    '--out',
    join(work, 's'),
    '--augment',
    'mirror',
    '--samples',
    '2',
    '--epochs',
    '1',
    '--no-progress',
  ]);
  assert.equal(scst.code, 0, scst.stderr);
  const tuned = JSON.parse(await readFile(join(work, 's', 'config.json'), 'utf8'));
  assert.equal(tuned.training.augment, 'mirror');
  assert.equal(tuned.training.objective.name, 'self-critical');
});
