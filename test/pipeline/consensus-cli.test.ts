import assert from 'node:assert/strict';
import { cp, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { runCli, runDevEval } from '../helpers/cli.js';
import { makeTemplatedFixture, SIX_PHOTOS } from '../helpers/flickr-fixture.js';
import { makeRandomModel } from '../helpers/random-model.js';
import { flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

const PHOTOS = SIX_PHOTOS;

test('captioner consensus indexes the training photos; captions are reranked with it on every path, and not without it', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const model = await makeRandomModel();
  const data = await makeTemplatedFixture(PHOTOS, {
    train: PHOTOS.slice(0, 4),
    dev: PHOTOS.slice(4, 6),
    test: [],
  });
  const work = await mkdtemp(join(tmpdir(), 'captioner-work-'));
  assert.equal((await runCli(['prepare', '--data', data, '--out', work, '--min-count', '1'])).code, 0);

  // Before `features`, nothing to index: a clear refusal.
  const withIndex = join(work, 'model');
  await cp(model, withIndex, { recursive: true });
  const early = await runCli(['consensus', '--model', withIndex, '--work', work]);
  assert.notEqual(early.code, 0);
  assert.match(early.stderr, /features/);

  assert.equal((await runCli(['features', '--data', data, '--out', work])).code, 0);
  const built = await runCli([
    'consensus',
    '--model',
    withIndex,
    '--work',
    work,
    '--k',
    '2',
    '--weight',
    '1000',
    '--bleu-weight',
    '0',
  ]);
  assert.equal(built.code, 0, built.stderr);
  assert.match(
    built.stdout,
    /consensus index of 4 training photos \(1280-d, 4-bit, k 2, weight 1000, BLEU weight 0\)/,
  );
  assert.ok((await stat(join(withIndex, 'consensus.bin'))).size > (4 * 1280) / 2);

  const evaluate = (source: string[], extra: string[], name: string) =>
    runDevEval(withIndex, [...source, '--json', ...extra], join(work, `${name}.json`));

  const on = await evaluate(['--work', work], ['--beam', '5'], 'on');
  const onPhotos = await evaluate(['--data', data], ['--beam', '5'], 'on-photos');
  const off = await evaluate(['--work', work], ['--beam', '5', '--no-consensus'], 'off');
  const zero = await evaluate(['--work', work], ['--beam', '5', '--consensus-weight', '0'], 'zero');
  assert.deepEqual(on.summary.consensus, { k: 2, weight: 1000 });
  assert.equal(off.summary.consensus, false);
  assert.deepEqual(zero.summary.consensus, { k: 2, weight: 0 });
  const bleu = await evaluate(['--work', work], ['--beam', '5', '--consensus-bleu-weight', '2'], 'bleu');
  assert.deepEqual(bleu.summary.consensus, { k: 2, weight: 1000, bleuWeight: 2 });
  // The stored vectors and the photos: the same reranked captions.
  assert.deepEqual(onPhotos.captions, on.captions);
  // The weight matters: 1000 ranks by agreement, 0 by the model's score (over the reranker's pool).
  assert.notDeepEqual(zero.captions, on.captions);

  // Through the library: the alternatives come with their consensus, ranked by it (the weight dwarfs the
  // model's scores); turned off per call, ranked by the score and without it.
  const captioner = await loadCaptioner({ model: withIndex });
  try {
    assert.deepEqual(captioner.card.consensus, { k: 2, weight: 1000, photos: 4 });
    const photo = join(flickrImages(), PHOTOS[4]);
    const ranked = await captioner.caption(photo, { beam: 5 });
    const agreement = ranked.alternatives.map((a) => a.consensus!);
    assert.equal(agreement.length, 5);
    assert.deepEqual(
      agreement,
      [...agreement].sort((a, b) => b - a),
    );
    const plain = await captioner.caption(photo, { beam: 5, consensus: false });
    assert.ok(plain.alternatives.every((a) => a.consensus === undefined));
    const scores = plain.alternatives.map((a) => a.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
    // Weight 0: the reranker's pool (every caption the search could have ended, which holds the beam's
    // own) ranked by score alone, so its best scores at least as well as the beam's best.
    const weightless = await loadCaptioner({ model: withIndex, consensus: { weight: 0 } });
    const byScore = await weightless.caption(photo, { beam: 5 }).finally(() => weightless.dispose());
    const poolScores = byScore.alternatives.map((a) => a.score);
    assert.deepEqual(
      poolScores,
      [...poolScores].sort((a, b) => b - a),
    );
    assert.ok(poolScores[0] >= scores[0], `${poolScores[0]} < ${scores[0]}`);
    assert.equal(plain.caption, off.captions.find((c) => c.image === PHOTOS[4])?.caption);
    assert.equal(ranked.caption, on.captions.find((c) => c.image === PHOTOS[4])?.caption);
  } finally {
    await captioner.dispose();
  }
  // A model without an index says so by omission.
  const bare = await loadCaptioner({ model });
  try {
    assert.equal(bare.card.consensus, undefined);
  } finally {
    await bare.dispose();
  }
});
