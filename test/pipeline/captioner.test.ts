import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { isCaptionerError } from '../../src/util/errors.js';
import { makeJpeg, truncate } from '../helpers/images.js';
import { makeRandomModel } from '../helpers/random-model.js';
import { DOG_PHOTOS, flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

test('a path, a Buffer and a Uint8Array of the same photo get the same captions', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const captioner = await loadCaptioner({ model: await makeRandomModel() });
  try {
    const path = join(flickrImages(), DOG_PHOTOS[0]);
    const bytes = await readFile(path);
    const fromPath = await captioner.caption(path, { beam: 3, alternatives: 2 });
    const fromBuffer = await captioner.caption(bytes, { beam: 3, alternatives: 2 });
    const fromArray = await captioner.caption(new Uint8Array(bytes), { beam: 3, alternatives: 2 });
    assert.ok(fromPath.caption.length > 0);
    assert.equal(fromPath.alternatives.length, 3);
    assert.equal(fromPath.alternatives[0].text, fromPath.caption);
    assert.ok(fromPath.alternatives[0].score >= fromPath.alternatives[1].score);
    assert.deepEqual(fromBuffer.alternatives, fromPath.alternatives);
    assert.deepEqual(fromArray.alternatives, fromPath.alternatives);
    for (const key of ['decodeMs', 'encodeMs', 'generateMs', 'totalMs'] as const)
      assert.ok(fromPath.timings[key] >= 0, key);
    assert.equal(captioner.card.vocabSize, 16);
    assert.equal(captioner.card.encoder.name, 'mobilenetv2-int8');
  } finally {
    await captioner.dispose();
  }
});

test('captionMany: a bad image gets its error in place, the others their captions', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const captioner = await loadCaptioner({ model: await makeRandomModel() });
  try {
    const good = join(flickrImages(), DOG_PHOTOS[1]);
    const results = await captioner.captionMany([
      good,
      truncate(await readFile(good)),
      Buffer.from('not an image'),
      await makeJpeg(),
    ]);
    assert.equal(results.length, 4);
    assert.ok('caption' in results[0] && results[0].caption.length > 0);
    assert.ok('error' in results[1] && isCaptionerError(results[1].error));
    assert.equal(
      'error' in results[1] && isCaptionerError(results[1].error) && results[1].error.code,
      'IMAGE_CORRUPT',
    );
    assert.equal(
      'error' in results[2] && isCaptionerError(results[2].error) && results[2].error.code,
      'IMAGE_UNSUPPORTED',
    );
    assert.ok('caption' in results[3]);
    // Greedy (beam 1) gives exactly one caption and no alternatives beyond it.
    const [greedy] = await captioner.captionMany([good], { beam: 1, alternatives: 4 });
    assert.ok('alternatives' in greedy && greedy.alternatives.length === 1);
  } finally {
    await captioner.dispose();
  }
});

test('a model is refused with an encoder it was not trained on', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const model = await makeRandomModel({ sha256: 'f'.repeat(64) });
  await assert.rejects(loadCaptioner({ model }), (e: unknown) => {
    assert.ok(isCaptionerError(e) && e.code === 'ENCODER_MISMATCH', String(e));
    assert.match((e as Error).message, /was trained on mobilenetv2-int8/);
    return true;
  });
  await assert.rejects(loadCaptioner({ model: '/nonexistent/model' }), /model folder not found/);
});

test('dispose waits for captions under way, then refuses new ones', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const captioner = await loadCaptioner({ model: await makeRandomModel() });
  const photo = join(flickrImages(), DOG_PHOTOS[0]);
  const pending = captioner.captionMany([photo, photo, photo]);
  await captioner.dispose();
  const results = await pending;
  assert.ok(results.every((r) => 'caption' in r));
  await assert.rejects(captioner.caption(photo), /disposed/);
});
