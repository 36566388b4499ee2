import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Captioner } from '../../src/pipeline/captioner-types.js';
import { buildServer } from '../../src/serve/server.js';
import { truncate } from '../helpers/images.js';
import { flickrPhoto, loadRealCaptioner } from '../helpers/real-captioner.js';

// The checks of the issue, against the real captioner (bundled model + encoder); skipped with the
// reason when the pipeline, the model or the encoder is not there.
describe('HTTP API with the real captioner', () => {
  let app: FastifyInstance | undefined;
  let captioner: Captioner | undefined;
  let skip: string | undefined;
  let photo: Buffer;

  before(async () => {
    const path = flickrPhoto(0);
    if (!path) {
      skip = 'Flickr8k is not in ../shared (set CAPTIONER_SHARED)';
      return;
    }
    photo = await readFile(path);
    ({ captioner, skip } = await loadRealCaptioner());
    if (captioner) app = buildServer({ captioner, webRoot: null });
  });
  after(async () => {
    await app?.close();
    await captioner?.dispose();
  });

  const post = (payload: Buffer, url = '/api/caption') =>
    app!.inject({ method: 'POST', url, headers: { 'content-type': 'image/jpeg' }, payload });

  test('a Flickr8k photo gets a caption and scored alternatives', async (t) => {
    if (skip) return t.skip(skip);
    const res = await post(photo, '/api/caption?beam=3');
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.match(body.caption, /^\w+( \S+){2,}/, body.caption);
    assert.equal(body.alternatives[0].text, body.caption);
    assert.ok(body.alternatives.length >= 1 && body.alternatives.length <= 3);
    for (const alt of body.alternatives) assert.ok(alt.score <= 0, `score ${alt.score}`);
    assert.ok(body.timings.totalMs > 0);
  });

  test('text → 415, 20 MB → 413, truncated JPEG → 422, all JSON', async (t) => {
    if (skip) return t.skip(skip);
    const text = await post(Buffer.from('not a photo\n'.repeat(50)));
    assert.equal(text.statusCode, 415, text.body);
    assert.equal(text.json().error.code, 'IMAGE_UNSUPPORTED');
    const big = await post(Buffer.alloc(20 * 1024 * 1024, 0xff));
    assert.equal(big.statusCode, 413, big.body);
    assert.equal(big.json().error.code, 'UPLOAD_TOO_LARGE');
    const cut = await post(truncate(photo));
    assert.equal(cut.statusCode, 422, cut.body);
    assert.equal(cut.json().error.code, 'IMAGE_CORRUPT');
  });

  test('GET /api/model: the model card', async (t) => {
    if (skip) return t.skip(skip);
    const card = (await app!.inject({ url: '/api/model' })).json();
    assert.equal(typeof card.name, 'string');
    assert.ok(card.vocabSize > 0);
    assert.match(card.encoder.sha256, /^[0-9a-f]{64}$/);
  });

  test('captioner serve builds the on-device bundle once listening: /healthz says when it is ready', async (t) => {
    if (skip) return t.skip(skip);
    const served = buildServer({ captioner: captioner!, webRoot: null, buildBundleAtStart: true });
    const lazy = buildServer({ captioner: captioner!, webRoot: null });
    try {
      await served.listen({ port: 0, host: '127.0.0.1' });
      await lazy.listen({ port: 0, host: '127.0.0.1' });
      const state = async (app: FastifyInstance) =>
        ((await app.inject({ url: '/healthz' })).json() as { bundle: string }).bundle;
      assert.ok(['building', 'ready'].includes(await state(served)));
      // No request for it: built all the same.
      const deadline = Date.now() + 60_000;
      while ((await state(served)) === 'building' && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(await state(served), 'ready');
      const config = await served.inject({ url: '/model/config.json' });
      assert.equal(config.statusCode, 200);
      assert.equal(config.json().format, 'captioner-bundle');
      // Without the option, the bundle waits for the page to ask for it.
      assert.equal(await state(lazy), 'idle');
      const none = buildServer({ captioner: captioner!, webRoot: null, bundle: null });
      assert.equal(((await none.inject({ url: '/healthz' })).json() as { bundle: string }).bundle, 'none');
      await none.close();
    } finally {
      await served.close();
      await lazy.close();
    }
  });
});
