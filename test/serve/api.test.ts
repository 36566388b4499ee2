import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { buildServer } from '../../src/serve/server.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeHugePngHeader, makeJpeg, truncate } from '../helpers/images.js';
import { multipartBody } from '../helpers/multipart.js';

/** Every error answer is JSON { error: { code, message } } with a sentence and no stack. */
function assertError(
  res: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  code: string,
) {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = JSON.parse(res.body);
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 10, body.error.message);
  assert.doesNotMatch(body.error.message, /\n\s+at /, 'no stack trace');
  return body.error.message as string;
}

describe('HTTP API with the test double captioner', () => {
  let app: FastifyInstance;
  let captioner: DoubleCaptioner;
  let jpeg: Buffer;
  const internalErrors: unknown[] = [];

  before(async () => {
    jpeg = await makeJpeg();
    captioner = new DoubleCaptioner();
    app = buildServer({
      captioner,
      webRoot: null,
      limits: { maxUploadBytes: 1024 * 1024, maxPixels: 10_000_000 },
      onInternalError: (error) => internalErrors.push(error),
    });
    await app.ready();
  });
  after(() => app.close());

  test('multipart field "image" → 200 with caption, alternatives and timings (double)', async () => {
    const form = multipartBody([
      { name: 'image', value: jpeg, filename: 'photo.jpg', contentType: 'image/jpeg' },
    ]);
    const res = await app.inject({ method: 'POST', url: '/api/caption', ...form });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.caption, 'a warm photo of 64 by 48 pixels');
    assert.equal(body.alternatives.length, 3);
    assert.equal(body.alternatives[0].text, body.caption);
    assert.equal(typeof body.alternatives[0].score, 'number');
    for (const key of ['decodeMs', 'encodeMs', 'generateMs', 'totalMs', 'queueMs']) {
      assert.equal(typeof body.timings[key], 'number', key);
    }
  });

  test('every format the decoder reads is accepted, AVIF included (sharp calls it HEIF) (double)', async () => {
    const photo = sharp({ create: { width: 16, height: 12, channels: 3, background: '#c84' } });
    for (const format of ['png', 'webp', 'gif', 'tiff', 'avif'] as const) {
      const payload = await photo.clone().toFormat(format).toBuffer();
      const res = await app.inject({
        method: 'POST',
        url: '/api/caption',
        payload,
        headers: { 'content-type': 'image/*' },
      });
      assert.equal(res.statusCode, 200, `${format}: ${res.body}`);
    }
  });

  test('raw body → 200, whatever Content-Type it claims (type sniffed from the bytes) (double)', async () => {
    for (const type of ['image/jpeg', 'application/octet-stream', 'text/plain', 'application/json']) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/caption',
        headers: { 'content-type': type },
        payload: jpeg,
      });
      assert.equal(res.statusCode, 200, `${type}: ${res.body}`);
      assert.equal(res.json().caption, 'a warm photo of 64 by 48 pixels');
    }
  });

  test('beam and alternatives from the query string and from form fields (double)', async () => {
    const q = await app.inject({
      method: 'POST',
      url: '/api/caption?beam=5&alternatives=1',
      headers: { 'content-type': 'image/jpeg' },
      payload: jpeg,
    });
    assert.equal(q.json().alternatives.length, 2);
    const form = multipartBody([
      { name: 'image', value: jpeg, filename: 'a.jpg' },
      { name: 'beam', value: '1' }, // after the file: still read
    ]);
    const f = await app.inject({ method: 'POST', url: '/api/caption', ...form });
    assert.equal(f.statusCode, 200, f.body);
    assert.equal(f.json().alternatives.length, 1);
    // Only alternatives: the beam widens to fit.
    const wide = await app.inject({
      method: 'POST',
      url: '/api/caption?alternatives=4',
      headers: { 'content-type': 'image/jpeg' },
      payload: jpeg,
    });
    assert.equal(wide.json().alternatives.length, 5);
  });

  test('400 when no image is sent', async () => {
    assertError(await app.inject({ method: 'POST', url: '/api/caption' }), 400, 'NO_IMAGE');
    const empty = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/jpeg' },
      payload: Buffer.alloc(0),
    });
    assertError(empty, 400, 'NO_IMAGE');
    const wrongField = multipartBody([{ name: 'file', value: jpeg, filename: 'a.jpg' }]);
    const message = assertError(
      await app.inject({ method: 'POST', url: '/api/caption', ...wrongField }),
      400,
      'NO_IMAGE',
    );
    assert.match(message, /"image".*"file"/);
  });

  test('400 for bad beam or alternatives', async () => {
    for (const query of [
      'beam=0',
      'beam=abc',
      'beam=2.5',
      'beam=99',
      'alternatives=-1',
      'beam=2&alternatives=2',
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: `/api/caption?${query}`,
        headers: { 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
      assertError(res, 400, 'BAD_PARAM');
    }
  });

  test('400 for a malformed multipart form', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
      payload: 'this is not a form',
    });
    assert.ok(res.statusCode === 400, res.body);
    assert.equal(res.json().error.code, 'BAD_REQUEST');
  });

  test('413 for a body over the upload cap (raw and multipart)', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 1);
    const raw = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/jpeg' },
      payload: big,
    });
    assert.match(assertError(raw, 413, 'UPLOAD_TOO_LARGE'), /1 MB/);
    const form = multipartBody([
      { name: 'image', value: big, filename: 'big.jpg', contentType: 'image/jpeg' },
    ]);
    assertError(await app.inject({ method: 'POST', url: '/api/caption', ...form }), 413, 'UPLOAD_TOO_LARGE');
  });

  test('413 for an image over the pixel cap, read from its header', async () => {
    const calls = captioner.calls;
    const res = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/png' },
      payload: makeHugePngHeader(20_000, 20_000),
    });
    assert.match(assertError(res, 413, 'IMAGE_TOO_LARGE'), /20000×20000/);
    assert.equal(captioner.calls, calls, 'refused before reaching the captioner');
  });

  test('415 for a file that is not an image, even when it claims to be one', async () => {
    const text = Buffer.from('Just some notes, not a photo.\n'.repeat(10));
    const raw = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/jpeg' },
      payload: text,
    });
    assertError(raw, 415, 'IMAGE_UNSUPPORTED');
    const form = multipartBody([
      { name: 'image', value: text, filename: 'photo.jpg', contentType: 'image/jpeg' },
    ]);
    assertError(await app.inject({ method: 'POST', url: '/api/caption', ...form }), 415, 'IMAGE_UNSUPPORTED');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
    const s = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/svg+xml' },
      payload: svg,
    });
    assertError(s, 415, 'IMAGE_UNSUPPORTED');
  });

  test('422 for a truncated or corrupt JPEG (double decodes it)', async () => {
    const cut = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/jpeg' },
      payload: truncate(jpeg),
    });
    assertError(cut, 422, 'IMAGE_CORRUPT');
    const header = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/jpeg' },
      payload: jpeg.subarray(0, 120),
    });
    assertError(header, 422, 'IMAGE_CORRUPT');
  });

  test('404 JSON for unknown routes and methods', async () => {
    assertError(await app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND');
    assertError(await app.inject({ method: 'GET', url: '/api/caption' }), 404, 'NOT_FOUND');
  });

  test('500 for a bug: generic JSON message, no stack, reported to the server side (double)', async () => {
    captioner.failWith = new TypeError('secret internals at line 42');
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/api/caption',
        headers: { 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
      const message = assertError(res, 500, 'INTERNAL');
      assert.doesNotMatch(message, /secret|TypeError/);
      assert.equal(internalErrors.length, 1);
    } finally {
      captioner.failWith = undefined;
    }
  });

  test('GET /api/model, /api/limits and /healthz', async () => {
    const model = await app.inject({ method: 'GET', url: '/api/model' });
    assert.equal(model.statusCode, 200);
    assert.deepEqual(model.json(), captioner.card);
    const limits = await app.inject({ method: 'GET', url: '/api/limits' });
    assert.equal(limits.json().maxUploadBytes, 1024 * 1024);
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.equal(health.json().status, 'ok');
    assert.equal(health.json().bundle, 'idle', 'the on-device bundle is built when first asked for');
  });
});

describe('HTTP API limits from options and environment (double)', () => {
  test('CAPTIONER_MAX_UPLOAD_MB sets the cap; an explicit option wins', async () => {
    const saved = process.env.CAPTIONER_MAX_UPLOAD_MB;
    process.env.CAPTIONER_MAX_UPLOAD_MB = '0.5';
    try {
      const app = buildServer({ captioner: new DoubleCaptioner(), webRoot: null });
      const body = Buffer.alloc(600 * 1024, 1);
      const res = await app.inject({
        method: 'POST',
        url: '/api/caption',
        headers: { 'content-type': 'image/jpeg' },
        payload: body,
      });
      assert.match(assertError(res, 413, 'UPLOAD_TOO_LARGE'), /0\.5 MB/);
      const wider = buildServer({
        captioner: new DoubleCaptioner(),
        webRoot: null,
        limits: { maxUploadBytes: 1024 * 1024 },
      });
      const ok = await wider.inject({
        method: 'POST',
        url: '/api/caption',
        headers: { 'content-type': 'image/jpeg' },
        payload: body,
      });
      assertError(ok, 415, 'IMAGE_UNSUPPORTED'); // past the size check: the bytes are not an image
      await Promise.all([app.close(), wider.close()]);
    } finally {
      if (saved === undefined) delete process.env.CAPTIONER_MAX_UPLOAD_MB;
      else process.env.CAPTIONER_MAX_UPLOAD_MB = saved;
    }
  });

  test('the default cap is 10 MB: a 20 MB body gets 413', async () => {
    const app = buildServer({ captioner: new DoubleCaptioner(), webRoot: null });
    const res = await app.inject({
      method: 'POST',
      url: '/api/caption',
      headers: { 'content-type': 'image/jpeg' },
      payload: Buffer.alloc(20 * 1024 * 1024, 1),
    });
    assert.match(assertError(res, 413, 'UPLOAD_TOO_LARGE'), /10 MB/);
    await app.close();
  });
});
