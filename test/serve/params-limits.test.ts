import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCaptionParams } from '../../src/serve/caption-params.js';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/serve/limits.js';

describe('caption parameters', () => {
  test('defaults: beam 3, two alternatives', () => {
    assert.deepEqual(parseCaptionParams({}, 10), { beam: 3, alternatives: 2 });
  });
  test('strings from a query or form; the last of repeated values wins', () => {
    assert.deepEqual(parseCaptionParams({ beam: '5', alternatives: '0' }, 10), { beam: 5, alternatives: 0 });
    assert.deepEqual(parseCaptionParams({ beam: ['2', '4'] }, 10), { beam: 4, alternatives: 3 });
  });
  test('only alternatives: the beam widens to fit', () => {
    assert.deepEqual(parseCaptionParams({ alternatives: '6' }, 10), { beam: 7, alternatives: 6 });
  });
  test('out of range or inconsistent: BAD_PARAM', () => {
    for (const raw of [
      { beam: '0' },
      { beam: '11' },
      { beam: 'x' },
      { alternatives: '10' },
      { beam: '1', alternatives: '1' },
    ]) {
      assert.throws(() => parseCaptionParams(raw, 10), { code: 'BAD_PARAM' }, JSON.stringify(raw));
    }
  });
});

describe('server limits', () => {
  test('defaults: 10 MB uploads, concurrency 2, queue 32', () => {
    const limits = resolveLimits({}, {});
    assert.deepEqual(limits, DEFAULT_LIMITS);
    assert.equal(limits.maxUploadBytes, 10 * 1024 * 1024);
  });
  test('environment over defaults, options over environment', () => {
    const env = { CAPTIONER_MAX_UPLOAD_MB: '2', CAPTIONER_CONCURRENCY: '4', CAPTIONER_QUEUE: '0' };
    const fromEnv = resolveLimits({}, env);
    assert.equal(fromEnv.maxUploadBytes, 2 * 1024 * 1024);
    assert.equal(fromEnv.concurrency, 4);
    assert.equal(fromEnv.maxQueued, 0);
    assert.equal(resolveLimits({ maxUploadBytes: 5, concurrency: undefined }, env).maxUploadBytes, 5);
    assert.equal(resolveLimits({ concurrency: undefined }, env).concurrency, 4);
    // A caller's defaults (serve: a batch per captioner thread) come under the environment.
    assert.equal(resolveLimits({}, {}, { concurrency: 6 }).concurrency, 6);
    assert.equal(resolveLimits({}, env, { concurrency: 6 }).concurrency, 4);
  });
  test('a bad environment value is a clear error', () => {
    assert.throws(() => resolveLimits({}, { CAPTIONER_MAX_UPLOAD_MB: 'ten' }), /CAPTIONER_MAX_UPLOAD_MB/);
  });
});
