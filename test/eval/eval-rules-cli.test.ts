import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { captionProblems } from '../../src/decode/caption-rules.js';
import { runCli, runDevEval } from '../helpers/cli.js';
import { makeTemplatedFixture, SIX_PHOTOS } from '../helpers/flickr-fixture.js';
import { makeRandomModel } from '../helpers/random-model.js';
import { sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

const PHOTOS = SIX_PHOTOS;

test('captioner eval keeps the decoding rules on both paths, turns them off on request, and writes a report', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  // An untrained model over a dozen words, "a", "on", "the", "in" and "s" among them, at most 8 words:
  // left alone it repeats itself and ends anywhere.
  const model = await makeRandomModel();
  const data = await makeTemplatedFixture(PHOTOS, {
    train: PHOTOS.slice(0, 1),
    dev: PHOTOS.slice(1, 5),
    test: PHOTOS.slice(5),
  });
  const work = await mkdtemp(join(tmpdir(), 'captioner-work-'));
  assert.equal((await runCli(['prepare', '--data', data, '--out', work, '--min-count', '1'])).code, 0);
  assert.equal((await runCli(['features', '--data', data, '--out', work])).code, 0);

  const evaluate = (source: string[], extra: string[], name: string) =>
    runDevEval(model, [...source, ...extra], join(work, `${name}.json`));

  const OFF = ['--no-block-trigrams', '--no-bad-endings'];
  const report = join(work, 'report.html');
  const on = await evaluate(['--work', work], ['--json', '--report', report], 'work-on');
  const onPhotos = await evaluate(['--data', data], [], 'data-on');
  const off = await evaluate(['--work', work], [...OFF, '--json'], 'work-off');
  const offPhotos = await evaluate(['--data', data], OFF, 'data-off');

  // Same features, same options: the same captions from the photos as from the store, rules on or off.
  assert.deepEqual(onPhotos.captions, on.captions);
  assert.deepEqual(offPhotos.captions, off.captions);
  // With the rules, nothing to flag; without, this model repeats itself or ends on a dangling word.
  for (const c of on.captions) assert.deepEqual(captionProblems(c.caption, 8), {}, c.caption);
  assert.ok(
    off.captions.some((c) => Object.keys(captionProblems(c.caption, 8)).length > 0),
    JSON.stringify(off.captions),
  );
  assert.notDeepEqual(off.captions, on.captions);
  const summaryOn = JSON.parse(on.run.stdout);
  const summaryOff = JSON.parse(off.run.stdout);
  assert.deepEqual(
    [summaryOn.blockTrigrams, summaryOn.badEndings, summaryOn.maxLength, summaryOn.beam],
    [true, true, 8, 3],
  );
  assert.deepEqual([summaryOff.blockTrigrams, summaryOff.badEndings], [false, false]);
  // The old flag is still accepted (the rule is on anyway).
  const old = await evaluate(['--work', work], ['--block-trigrams'], 'work-old-flag');
  assert.deepEqual(old.captions, on.captions);

  // --int8-products on the model written as int8: recorded in the summary, the same captions from the
  // photos as from the store; without the flag, the model's own choice (floats).
  const int8 = join(work, 'int8-model');
  assert.equal((await runCli(['ensemble', '--int8', '--out', int8, model])).code, 0);
  const evaluateInt8 = (source: string[], extra: string[], name: string) =>
    runDevEval(int8, [...source, '--json', ...extra], join(work, `${name}.json`));

  const integer = await evaluateInt8(['--work', work], ['--int8-products'], 'int8-work');
  const integerPhotos = await evaluateInt8(['--data', data], ['--int8-products'], 'int8-data');
  assert.equal(integer.summary.integerProducts, true);
  assert.equal(integerPhotos.summary.integerProducts, true);
  assert.deepEqual(integerPhotos.captions, integer.captions);
  assert.equal(summaryOn.integerProducts, false);
  // --int8-layers writes the weights whose products run in integers into the model's decoding (eval
  // then uses them); a name no model has is refused.
  const outputOnly = join(work, 'int8-output-model');
  const bad = await runCli([
    'ensemble',
    '--int8',
    '--int8-layers',
    'output.kernel,nope',
    '--out',
    outputOnly,
    model,
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--int8-layers: no weight named nope/);
  assert.equal(
    (await runCli(['ensemble', '--int8', '--int8-layers', 'output.kernel', '--out', outputOnly, model])).code,
    0,
  );
  const config = JSON.parse(await readFile(join(outputOnly, 'config.json'), 'utf8'));
  assert.deepEqual(config.decoding.integerProducts, ['output.kernel']);
  const ownRun = await runCli(['eval', '--model', outputOnly, '--work', work, '--split', 'dev', '--json']);
  assert.equal(ownRun.code, 0, ownRun.stderr);
  assert.deepEqual(JSON.parse(ownRun.stdout).integerProducts, ['output.kernel']);

  // The report: the photos found through the work folder's corpus, one row each.
  assert.match(on.run.stderr, /report written to .*report\.html \(\d+\.\d MB\)/);
  const html = await readFile(report, 'utf8');
  assert.equal((html.match(/<tr data-index=/g) ?? []).length, 4);
  assert.equal((html.match(/<img class="thumb" src="data:image\/jpeg;base64,/g) ?? []).length, 4 + 4 + 4);
  for (const c of on.captions) assert.ok(html.includes(`<div class="file">${c.image}</div>`), c.image);
});
