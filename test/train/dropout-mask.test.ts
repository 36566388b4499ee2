import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/util/random.js';

test('Rng.mask draws exactly what next() would, and leaves the generator in the same state', () => {
  const a = new Rng(123);
  const b = new Rng(123);
  const fast = new Float32Array(1000);
  const slow = new Float32Array(1000);
  a.mask(fast, 10, 900, 0.5, 2);
  for (let k = 0; k < 900; k++) if (b.next() < 0.5) slow[10 + k] = 2;
  assert.deepEqual(fast, slow);
  assert.equal(a.next(), b.next());
});
