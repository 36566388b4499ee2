import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { makeFlickrFixture, tokenLines } from '../helpers/flickr-fixture.js';
import { DOG_PHOTOS, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

const PHOTOS = [...DOG_PHOTOS, '1000268201_693b08cb0e.jpg', '1001773457_577c3a7d70.jpg'];

test('captioner train --scst --from fine-tunes a trained model, and refuses what it cannot do', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const captions = (s: string) => [`A ${s} runs .`, `The ${s} is here`, `A ${s} on grass`];
  const data = await makeFlickrFixture({
    captionLines: PHOTOS.flatMap((p, i) => tokenLines(p, captions(i % 2 ? 'dog' : 'man'))),
    splits: { train: PHOTOS.slice(0, 3), dev: PHOTOS.slice(3, 4), test: PHOTOS.slice(4) },
    photos: PHOTOS,
  });
  const work = await mkdtemp(join(tmpdir(), 'captioner-scst-'));
  assert.equal((await runCli(['prepare', '--data', data, '--out', work, '--min-count', '1'])).code, 0);
  assert.equal((await runCli(['features', '--data', data, '--out', work])).code, 0);
  const small = ['--units', '16', '--embed-dim', '8', '--no-progress'];
  const xe = await runCli(['train', '--work', work, '--out', join(work, 'xe'), '--epochs', '2', ...small]);
  assert.equal(xe.code, 0, xe.stderr);

  const scst = ['train', '--scst', '--work', work, '--epochs', '2', '--samples', '3', '--no-progress'];
  const run = await runCli([
    ...scst,
    '--from',
    join(work, 'xe'),
    '--out',
    join(work, 'sc'),
    '--candidates',
    'beam',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /self-critical fine-tuning of .*3 beams per image, mean baseline/);
  assert.match(run.stderr, /mean sample reward/);
  const config = JSON.parse(await readFile(join(work, 'sc', 'config.json'), 'utf8'));
  assert.equal(config.training.objective.name, 'self-critical');
  assert.equal(config.training.learningRate, 5e-5, 'the self-critical default rate');
  assert.match(config.training.devMetric.name, /ciderD \(beam 3\)/);

  const refused = async (args: string[], message: RegExp) => {
    const r = await runCli([...scst, '--out', join(work, 'never'), ...args]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, message);
  };
  await refused([], /--scst needs --from/);
  const plain = await runCli(['train', '--work', work, '--out', join(work, 'never'), '--bleu-weight', '1']);
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /--bleu-weight is for self-critical training/);
  await refused(['--from', join(work, 'xe'), '--units', '8'], /drop --units/);
  await refused(['--from', join(work, 'nope')], /no config\.json/);
  await refused(
    ['--from', join(work, 'xe'), '--samples', '1'],
    /^captioner: error: .*at least 2 samples per image/m,
  );
});
