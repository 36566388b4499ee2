import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaptionOptions, CaptionResult, ImageInput } from '../../src/pipeline/captioner-types.js';
import { parseCaptionParams } from '../../src/serve/caption-params.js';
import { buildServer } from '../../src/serve/server.js';
import { DoubleCaptioner } from '../helpers/double-captioner.js';
import { makeJpeg } from '../helpers/images.js';

test('blockTrigrams and badEndings: absent means the captioner default (on), else true or false', () => {
  assert.deepEqual(parseCaptionParams({}, 10), { beam: 3, alternatives: 2 });
  assert.deepEqual(parseCaptionParams({ blockTrigrams: 'false', badEndings: '0' }, 10), {
    beam: 3,
    alternatives: 2,
    blockTrigrams: false,
    badEndings: false,
  });
  assert.deepEqual(parseCaptionParams({ blockTrigrams: 'TRUE', badEndings: ['off', 'on'] }, 10), {
    beam: 3,
    alternatives: 2,
    blockTrigrams: true,
    badEndings: true,
  });
  assert.deepEqual(parseCaptionParams({ badEndings: '' }, 10), { beam: 3, alternatives: 2 });
  for (const raw of [{ blockTrigrams: 'maybe' }, { badEndings: '2' }])
    assert.throws(() => parseCaptionParams(raw, 10), { code: 'BAD_PARAM' }, JSON.stringify(raw));
});

/** The double, remembering the options of each request. */
class SpyCaptioner extends DoubleCaptioner {
  readonly seen: CaptionOptions[] = [];
  override async caption(input: ImageInput, options: CaptionOptions = {}): Promise<CaptionResult> {
    this.seen.push(options);
    return super.caption(input, options);
  }
}

test('the API passes the rules of the query string to the captioner; a bad value is a 400', async () => {
  const captioner = new SpyCaptioner();
  const app = buildServer({ captioner, webRoot: null });
  try {
    const jpeg = await makeJpeg();
    const post = (query: string) =>
      app.inject({
        method: 'POST',
        url: `/api/caption${query}`,
        headers: { 'content-type': 'image/jpeg' },
        payload: jpeg,
      });
    assert.equal((await post('')).statusCode, 200);
    assert.equal((await post('?blockTrigrams=false&badEndings=false')).statusCode, 200);
    assert.deepEqual(captioner.seen, [
      { beam: 3, alternatives: 2 },
      { beam: 3, alternatives: 2, blockTrigrams: false, badEndings: false },
    ]);
    const bad = await post('?badEndings=sometimes');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'BAD_PARAM');
    assert.match(bad.json().error.message, /badEndings must be true or false/);
  } finally {
    await app.close();
    await captioner.dispose();
  }
});
