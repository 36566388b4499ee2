import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { loadCaptionerPool } from '../../src/pipeline/captioner-pool.js';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { isCaptionerError } from '../../src/util/errors.js';
import { truncate } from '../helpers/images.js';
import { makeRandomModel } from '../helpers/random-model.js';
import { DOG_PHOTOS, flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

const codeOf = (r: object) => ('error' in r && isCaptionerError(r.error) ? r.error.code : undefined);

test('a pool of captioner threads gives what one captioner gives, errors and their codes included', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const model = await makeRandomModel();
  const photos = DOG_PHOTOS.slice(0, 3).map((name) => join(flickrImages(), name));
  const inputs = [
    photos[0],
    await readFile(photos[1]),
    truncate(await readFile(photos[2])),
    new Uint8Array(await readFile(photos[2])),
    Buffer.from('not an image'),
  ];
  const one = await loadCaptioner({ model });
  const pool = await loadCaptionerPool({ model, workers: 2 });
  try {
    assert.deepEqual(pool.card, one.card);
    const options = { beam: 3, alternatives: 2 };
    const expected = await one.captionMany(inputs, options);
    const got = await pool.captionMany(inputs, options);
    assert.equal(got.length, inputs.length);
    got.forEach((r, i) => {
      const e = expected[i];
      if ('error' in e) assert.equal(codeOf(r), codeOf(e), `image ${i}: ${JSON.stringify(r)}`);
      else assert.deepEqual('alternatives' in r && r.alternatives, e.alternatives, `image ${i}`);
    });
    assert.equal(codeOf(got[2]), 'IMAGE_CORRUPT');
    assert.equal(
      (await pool.caption(photos[0], options)).caption,
      (expected[0] as { caption: string }).caption,
    );
    // A request the captioner refuses is refused with its code, from the thread that refused it.
    await assert.rejects(
      pool.caption(photos[0], { attention: true }),
      (e) => codeOf({ error: e }) === 'NO_ATTENTION',
    );
    await assert.rejects(
      pool.caption(Buffer.from('nope')),
      (e) => codeOf({ error: e }) === 'IMAGE_UNSUPPORTED',
    );
  } finally {
    await one.dispose();
    await pool.dispose();
  }
  await assert.rejects(pool.captionMany(photos), (e) => codeOf({ error: e }) === 'DISPOSED');
});

test('a captioner thread that dies is replaced; a pool that cannot load says why', async (t) => {
  if (!(await sharedEncoderPath())) return t.skip(SKIP_NO_MODEL);
  const model = await makeRandomModel();
  const photo = join(flickrImages(), DOG_PHOTOS[0]);
  const pool = await loadCaptionerPool({ model, workers: 2 });
  try {
    const before = await pool.caption(photo);
    const slots = (pool as unknown as { slots: { worker: Worker; alive: boolean }[] }).slots;
    const dead = slots[0].worker;
    await dead.terminate();
    // Captions go on (on the other thread, then on both), and the dead thread gets a successor.
    const results = await pool.captionMany([photo, photo, photo, photo]);
    for (const r of results) assert.equal('caption' in r && r.caption, before.caption);
    for (let i = 0; i < 200 && !(slots[0].alive && slots[0].worker !== dead); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(slots[0].alive && slots[0].worker !== dead, 'the thread was replaced');
    assert.equal((await pool.caption(photo)).caption, before.caption);
  } finally {
    await pool.dispose();
  }
  await assert.rejects(
    loadCaptionerPool({ model: '/nonexistent/model', workers: 2 }),
    (e) => codeOf({ error: e }) === 'MODEL_NOT_FOUND',
  );
  await assert.rejects(
    loadCaptionerPool({ model, workers: 0 }),
    (e) => codeOf({ error: e }) === 'BAD_CONFIG',
  );
});
