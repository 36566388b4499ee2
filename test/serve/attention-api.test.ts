import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { loadCaptioner } from '../../src/pipeline/load-captioner.js';
import { parseCaptionParams } from '../../src/serve/caption-params.js';
import { buildServer } from '../../src/serve/server.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg } from '../helpers/images.js';
import { multipartBody } from '../helpers/multipart.js';
import { tinyAttentionModelDir } from '../helpers/tiny-model.js';
import { DOG_PHOTOS, flickrImages, sharedEncoderPath, SKIP_NO_MODEL } from '../helpers/vision.js';

interface Body {
  caption: string;
  attention?: { word: string; weights: number[] }[];
  attentionGrid?: [number, number];
}

/** One entry per word of the caption, 49 weights (7×7, row-major) each, summing to 1. */
function checkAttention(body: Body) {
  assert.ok(Array.isArray(body.attention), JSON.stringify(body).slice(0, 200));
  assert.deepEqual(body.attentionGrid, [7, 7]);
  assert.deepEqual(
    body.attention.map((a) => a.word),
    body.caption.split(' '),
  );
  for (const { word, weights } of body.attention) {
    assert.equal(weights.length, 49, word);
    assert.ok(weights.every((w) => typeof w === 'number' && w >= 0 && w <= 1));
    const sum = weights.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `"${word}": weights sum to ${sum}`);
  }
}

test('attention param: 1/true/yes ask for it; absent or false do not; anything else is a 400', () => {
  for (const value of ['1', 'true', 'yes', 'on', true])
    assert.equal(parseCaptionParams({ attention: value }, 5).attention, true);
  for (const value of [undefined, '', '0', 'false'])
    assert.equal(parseCaptionParams({ attention: value }, 5).attention, undefined);
  assert.throws(() => parseCaptionParams({ attention: 'maybe' }, 5), /attention must be true or false/);
});

describe('POST /api/caption?attention=1 with a model without attention', () => {
  let app: FastifyInstance;
  before(() => {
    app = buildServer({ captioner: new DoubleCaptioner(), webRoot: null });
  });
  after(() => app.close());

  test('400 NO_ATTENTION with a sentence; the card says no attention; without the param, as before', async () => {
    const jpeg = await makeJpeg();
    const post = (url: string) =>
      app.inject({ method: 'POST', url, headers: { 'content-type': 'image/jpeg' }, payload: jpeg });
    const res = await post('/api/caption?attention=1');
    assert.equal(res.statusCode, 400, res.body);
    const { error } = res.json();
    assert.equal(error.code, 'NO_ATTENTION');
    assert.match(error.message, /needs an attention model/);
    assert.equal((await app.inject({ url: '/api/model' })).json().attention, undefined);
    const plain = await post('/api/caption?attention=0');
    assert.equal(plain.statusCode, 200, plain.body);
    assert.equal('attention' in plain.json(), false);
  });
});

describe('POST /api/caption?attention=1 (tiny random attention model, real encoder)', () => {
  let app: FastifyInstance | undefined;
  let captioner: Captioner | undefined;
  let skip: string | undefined;
  let photo: Buffer;

  before(async () => {
    if (!(await sharedEncoderPath())) {
      skip = SKIP_NO_MODEL;
      return;
    }
    photo = await readFile(join(flickrImages(), DOG_PHOTOS[0]));
    captioner = await loadCaptioner({ model: await tinyAttentionModelDir({ sharpen: 4 }) });
    app = buildServer({ captioner, webRoot: null });
  });
  after(async () => {
    await app?.close();
    await captioner?.dispose();
  });

  const post = (url: string, payload = photo) =>
    app!.inject({ method: 'POST', url, headers: { 'content-type': 'image/jpeg' }, payload });

  test('per-word weights: 49 cells summing to 1, one entry per word of the caption', async (t) => {
    if (skip) return t.skip(skip);
    for (const beam of [1, 3]) {
      const res = await post(`/api/caption?attention=1&beam=${beam}`);
      assert.equal(res.statusCode, 200, res.body);
      checkAttention(res.json());
    }
    // As a form field too.
    const form = multipartBody([
      { name: 'attention', value: 'true' },
      { name: 'image', value: photo, filename: 'dog.jpg', contentType: 'image/jpeg' },
    ]);
    const res = await app!.inject({ method: 'POST', url: '/api/caption', ...form });
    assert.equal(res.statusCode, 200, res.body);
    checkAttention(res.json());
    assert.equal((await app!.inject({ url: '/api/model' })).json().attention, true);
  });

  test('requests with and without attention, at once: each gets what it asked for', async (t) => {
    if (skip) return t.skip(skip);
    const other = await makeJpeg(320, 240);
    const answers = await Promise.all([
      post('/api/caption?attention=1'),
      post('/api/caption'),
      post('/api/caption?attention=1', other),
      post('/api/caption', other),
    ]);
    answers.forEach((res, i) => {
      assert.equal(res.statusCode, 200, res.body);
      if (i % 2 === 0) checkAttention(res.json());
      else assert.equal('attention' in res.json(), false, `request ${i} did not ask`);
    });
    assert.equal(answers[0].json().caption, answers[1].json().caption);
  });
});
